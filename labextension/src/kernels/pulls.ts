/**
 * Images that must be pulled first: what the "Register image" form's Image field names (a
 * ready image, a registry reference, an archive), the `POST images/pulls` body that pulls it and
 * registers the kernel, and how a pull's progress reads.
 *
 * Pure (no JupyterLab imports) so it is unit-tested with node's test runner. The server parses
 * the source again (`images/sources.py`) and says exactly what is wrong with it; recognising it
 * here only decides whether the form registers (`POST kernels`) or pulls (`POST images/pulls`).
 */
import type { IPullOperation, IPullRequest, PullRuntime } from '../types';
import { PULL_RUNTIMES } from '../types';
import { buildSlurm, buildSpec, defaultDisplayName, IRegisterForm } from './form';

/**
 * What the Image field names:
 * - `image`: an image a runtime runs as it is (a `.sif` file, an image directory);
 * - `registry`: `docker://REF` or `oras://REF` (a SIF in a registry), pulled first;
 * - `archive`: `docker-archive:PATH`, `oci:DIR[:REF]`, `oci-archive:PATH[:REF]` or the path of
 *   a `.tar` file (a `docker save` tarball), pulled first;
 * - `unsupported`: a transport the server cannot pull (`library://`, `shub://`, …): registered
 *   as it is, for a runtime that reads it (Apptainer pulls `library://` itself);
 * - `empty`: nothing typed yet.
 */
export type SourceKind = 'empty' | 'image' | 'registry' | 'archive' | 'unsupported';

export interface ISourceInfo {
  kind: SourceKind;
  /** The transport: `docker`, `oras`, `docker-archive`, `oci`, `oci-archive`, `tarball`
   * (a `.tar` path), `path` (a ready image) or the unsupported one (`library`…); `''` when
   * empty. */
  scheme: string;
}

const REGISTRY_SCHEMES = ['docker', 'oras'];
const ARCHIVE_SCHEMES = ['docker-archive', 'oci-archive', 'oci'];
/** Transports `images/sources.py` refuses (NOT_YET): named, rather than taken for a path. */
const UNSUPPORTED = /^(library|shub):\/\/|^(docker-daemon|containers-storage|dir):/;

/** What `text` names (see {@link SourceKind}), decided by what it looks like. */
export function recognizeSource(text: string): ISourceInfo {
  const value = text.trim();
  if (!value) {
    return { kind: 'empty', scheme: '' };
  }
  const unsupported = UNSUPPORTED.exec(value);
  if (unsupported) {
    return { kind: 'unsupported', scheme: unsupported[1] ?? unsupported[2] };
  }
  for (const scheme of REGISTRY_SCHEMES) {
    if (value.startsWith(`${scheme}://`)) {
      return { kind: 'registry', scheme };
    }
  }
  for (const scheme of ARCHIVE_SCHEMES) {
    if (value.startsWith(`${scheme}:`)) {
      return { kind: 'archive', scheme };
    }
  }
  if (/\.tar$/i.test(value)) {
    return { kind: 'archive', scheme: 'tarball' };
  }
  return { kind: 'image', scheme: 'path' };
}

/** Whether the form pulls what `text` names before registering it. */
export function needsPull(text: string): boolean {
  const kind = recognizeSource(text).kind;
  return kind === 'registry' || kind === 'archive';
}

/**
 * A display name from a source: the last part of its path or reference without the transport,
 * a tag's `:` kept (`docker://reg/team/tool:1.2` gives `tool:1.2 (container)`).
 */
export function sourceDisplayName(text: string): string {
  const value = text
    .trim()
    .replace(/^[a-z-]+:(\/\/)?/, '')
    .replace(/@sha256:[0-9a-f]+$/i, '');
  return defaultDisplayName(value.replace(/\.tar$/i, ''));
}

export type PullResult = { ok: true; request: IPullRequest } | { ok: false; errors: string[] };

/**
 * `POST images/pulls` for the form: the Image field is the source, the form's runtime the one
 * the image is pulled for, and `install` registers the kernel (display name and the other spec
 * settings from the form, probed first) once the pull succeeded.
 */
export function buildPullRequest(form: IRegisterForm): PullResult {
  const spec = buildSpec(form);
  if (!spec.ok) {
    return spec;
  }
  const source = spec.spec.image;
  const { kind, scheme } = recognizeSource(source);
  const errors: string[] = [];
  if (kind !== 'registry' && kind !== 'archive') {
    errors.push(`Image: ${JSON.stringify(source)} is not an image reference or an archive.`);
  }
  const runtime = form.runtime as PullRuntime;
  if (!PULL_RUNTIMES.includes(runtime)) {
    errors.push(
      `Runtime: images are pulled for ${PULL_RUNTIMES.join(', ')} only, not ${form.runtime}; ` +
        'choose one of them.'
    );
  } else if (scheme === 'oras' && runtime !== 'apptainer' && runtime !== 'singularity') {
    errors.push('Runtime: an oras:// image is a SIF file; choose apptainer or singularity.');
  }
  if (errors.length) {
    return { ok: false, errors };
  }
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { image, runtime: _runtime, ...settings } = spec.spec;
  const displayName = form.displayName.trim() || sourceDisplayName(source);
  const slurm = buildSlurm(form.node);
  return {
    ok: true,
    request: {
      source,
      runtime,
      install: {
        display_name: displayName,
        spec: settings,
        probe: true,
        ...(slurm && { slurm })
      }
    }
  };
}

/** `TranslationBundle.__`, the only part of it these helpers use. */
export interface ITrans {
  __(msgid: string, ...args: unknown[]): string;
}

/** `1536` → `1.5 KiB`; binary units, one decimal from KiB on. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export interface IPullProgress {
  /** What the pull is doing (`Downloading`, `Cancelled`…). */
  phase: string;
  /** `12.0 MiB of 85.3 MiB` when the bytes are known, else null. */
  bytes: string | null;
  /** Done/total between 0 and 1 (1 once succeeded, 0 once failed or cancelled); null while
   * running without a known total (an indeterminate bar). */
  fraction: number | null;
}

/** What the phase names, as a user reads it. */
export function phaseLabel(op: IPullOperation, trans: ITrans): string {
  switch (op.phase) {
    case 'download':
      return trans.__('Downloading');
    case 'read':
      return trans.__('Reading the archive');
    case 'unpack':
      return trans.__('Unpacking layers');
    case 'convert':
      return trans.__('Converting to SIF');
    case 'load':
      return trans.__('Loading into Podman');
    case 'probe':
      return trans.__('Probing the image');
    default:
      return trans.__('Waiting to start');
  }
}

/** A pull's progress, as its bar and text show it. */
export function pullProgress(op: IPullOperation, trans: ITrans): IPullProgress {
  if (op.state === 'succeeded') {
    return {
      phase: op.kernel
        ? trans.__('Done: registered kernel %1', op.kernel)
        : trans.__('Done: %1', op.image_path ?? ''),
      bytes: null,
      fraction: 1
    };
  }
  if (op.state === 'failed' || op.state === 'cancelled') {
    // An empty, still bar: an indeterminate one would look like work going on.
    return {
      phase: op.state === 'failed' ? trans.__('Failed') : trans.__('Cancelled'),
      bytes: null,
      fraction: 0
    };
  }
  const phase = phaseLabel(op, trans);
  // Podman counts blobs, not bytes; a zero total means the tool does not say how much.
  if (op.total > 0) {
    const done = Math.min(op.done, op.total);
    return {
      phase,
      bytes: trans.__('%1 of %2', formatBytes(done), formatBytes(op.total)),
      fraction: done / op.total
    };
  }
  const bytes = op.done > 0 && op.runtime !== 'podman' ? formatBytes(op.done) : null;
  return { phase, bytes, fraction: null };
}
