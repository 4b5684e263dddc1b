/**
 * The state behind the "Batch jobs" panel: the jobs the server tracks, the log tails the user
 * opened, and cancelling.
 */
import { ISignal, Signal } from '@lumino/signaling';
import { describeError } from '../errors';
import { requestAPI, sendJSON } from '../request';
import type { IJob } from '../types';
import { isTerminal, sortJobs } from './format';

export class JobsModel {
  jobs: IJob[] = [];
  /** Why the last refresh failed (an APIError, a network error), or null. */
  error: unknown = null;
  /** Log tails by job id, for the jobs whose log is open. */
  logs = new Map<string, string>();
  /** Set once the first list arrived (so "no jobs yet" is not shown while loading). */
  loaded = false;

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /**
   * Reload the jobs and the open log tails.
   *
   * Rejects when the list cannot be fetched (after recording the message in `error`), so a
   * `Poll` driving it backs off while the server is unreachable.
   */
  async refresh(): Promise<void> {
    try {
      const { jobs } = await requestAPI<{ jobs: IJob[] }>('jobs');
      this.jobs = sortJobs(jobs);
      this.error = null;
      this.loaded = true;
      // Open logs are fetched until one fetch saw the job finished: then the tail is final.
      const open = this.jobs.filter(job => this.logs.has(job.id) && !this._finalLogs.has(job.id));
      await Promise.all(open.map(job => this.loadLog(job.id)));
    } catch (error) {
      this.error = error;
      throw error;
    } finally {
      this._changed.emit();
    }
  }

  /** Show or hide the log tail of a job. */
  async toggleLog(id: string): Promise<void> {
    if (this.logs.has(id)) {
      this.logs.delete(id);
      this._finalLogs.delete(id);
      this._changed.emit();
      return;
    }
    this.logs.set(id, '');
    this._changed.emit();
    await this.loadLog(id);
  }

  /** Cancel a job (scancel); resolves with its record after the cancel. */
  async cancel(id: string): Promise<IJob> {
    const job = await sendJSON<IJob>(`jobs/${encodeURIComponent(id)}`, 'DELETE');
    this.jobs = this.jobs.map(j => (j.id === id ? { ...j, ...job } : j));
    this._changed.emit();
    return job;
  }

  private async loadLog(id: string): Promise<void> {
    try {
      const job = await requestAPI<IJob>(`jobs/${encodeURIComponent(id)}`);
      if (this.logs.has(id)) {
        this.logs.set(id, job.log_tail ?? '');
        if (isTerminal(job.state)) {
          this._finalLogs.add(id);
        }
      }
      this.jobs = this.jobs.map(j => (j.id === id ? { ...j, ...job } : j));
    } catch (error) {
      if (this.logs.has(id)) {
        this.logs.set(id, `(could not read the log: ${describeError(error)})`);
      }
    }
    this._changed.emit();
  }

  private _changed = new Signal<this, void>(this);
  private _finalLogs = new Set<string>();
}
