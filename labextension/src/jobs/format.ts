/**
 * How the jobs panel shows Slurm states and times.
 *
 * Pure (no JupyterLab imports) so it is unit-tested with node's test runner.
 */
import type { IJob } from '../types';
import { TERMINAL_JOB_STATES } from '../types';

/** States after which a job never changes again: the server's, from openapi.yaml. */
const TERMINAL: ReadonlySet<string> = new Set(TERMINAL_JOB_STATES);

/** Slurm writes `CANCELLED by 0`; the first word is the state. */
export function baseState(state: string): string {
  return (state || 'UNKNOWN').trim().split(/\s+/)[0].toUpperCase();
}

/** Whether the job is over: no Cancel button, no more log polling (UNKNOWN included). */
export function isTerminal(state: string): boolean {
  return TERMINAL.has(baseState(state));
}

/** The CSS modifier for a state: `ok`, `active`, `waiting` or `error`. */
export function stateKind(state: string): 'ok' | 'active' | 'waiting' | 'error' {
  const base = baseState(state);
  if (base === 'COMPLETED') {
    return 'ok';
  }
  if (base === 'RUNNING' || base === 'COMPLETING' || base === 'CONFIGURING') {
    return 'active';
  }
  if (TERMINAL.has(base)) {
    return 'error';
  }
  return 'waiting';
}

/** `PENDING (Priority)`: the state, with Slurm's reason while it waits or after it failed. */
export function stateLabel(job: { state: string; reason: string | null }): string {
  const reason = job.reason && job.reason !== 'None' ? job.reason : '';
  return reason && stateKind(job.state) !== 'ok'
    ? `${baseState(job.state)} (${reason})`
    : baseState(job.state);
}

/** `1h 02m`, `3m 05s` or `12s` between two instants. */
export function formatDuration(milliseconds: number): string {
  const total = Math.max(0, Math.round(milliseconds / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (h > 0) {
    return `${h}h ${pad(m)}m`;
  }
  if (m > 0) {
    return `${m}m ${pad(s)}s`;
  }
  return `${s}s`;
}

/** How long the job ran (or has been running at `now`); null before it started. */
export function runTime(job: Pick<IJob, 'started' | 'ended'>, now: Date): string | null {
  const start = job.started ? Date.parse(job.started) : NaN;
  if (Number.isNaN(start)) {
    return null;
  }
  const end = job.ended ? Date.parse(job.ended) : now.getTime();
  return formatDuration((Number.isNaN(end) ? now.getTime() : end) - start);
}

/** A time of the same day as `now` as `HH:MM:SS`, older ones with their date. */
export function formatTime(iso: string | null, now: Date): string {
  if (!iso) {
    return '—';
  }
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  const time = date.toLocaleTimeString(undefined, { hour12: false });
  return date.toDateString() === now.toDateString() ? time : `${date.toLocaleDateString()} ${time}`;
}

/** Tasks of an array job counted by state: `3 COMPLETED, 1 RUNNING`. */
export function taskSummary(job: Pick<IJob, 'tasks'>): string {
  const counts = new Map<string, number>();
  for (const task of job.tasks ?? []) {
    const state = baseState(task.state);
    counts.set(state, (counts.get(state) ?? 0) + 1);
  }
  return Array.from(counts.entries())
    .map(([state, n]) => `${n} ${state}`)
    .join(', ');
}

/** Newest first, by Slurm job id (numeric when both are). */
export function sortJobs(jobs: readonly IJob[]): IJob[] {
  return [...jobs].sort((a, b) => {
    const na = Number(a.id);
    const nb = Number(b.id);
    return Number.isNaN(na) || Number.isNaN(nb) ? b.id.localeCompare(a.id) : nb - na;
  });
}
