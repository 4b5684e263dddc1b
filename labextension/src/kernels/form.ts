/**
 * The "Register image" form's state, its mapping to `POST kernels` / `POST images/probe`, and
 * how kernels and probe results are summarised in the panel.
 *
 * Pure (no JupyterLab imports) so it is unit-tested with node's test runner. The server
 * validates the spec (`ContainerSpec.from_dict`); the frontend splits text fields into lists
 * and says which line is malformed before a request is sent.
 */
import type { GpuChoice, IKernel, INodeSlurm, IProbe, IRegisterRequest, ISpec } from '../types';

export interface IRegisterForm {
  image: string;
  displayName: string;
  runtime: string;
  gpu: GpuChoice;
  /** One bind per line (or comma-separated): `src[:dst[:ro|rw]]`. */
  binds: string;
  /** Module names separated by spaces, commas or new lines. */
  modules: string;
  /** One `NAME=value` per line. */
  env: string;
  /** Run on a compute node Slurm allocates (a node kernel), with these resources. */
  node: INodeForm;
}

/** The form's Slurm fields: text as typed; empty ones are left to the site's defaults. */
export interface INodeForm {
  enabled: boolean;
  partition: string;
  time: string;
  gres: string;
  cpus_per_task: string;
  mem: string;
  account: string;
}

/** The fields of {@link INodeForm} that are sbatch resources, in the form's order. */
export const NODE_FIELDS = [
  'partition',
  'time',
  'gres',
  'cpus_per_task',
  'mem',
  'account'
] as const;

/** The `slurm` block the form describes (undefined: the kernel runs where the server runs).
 * The server validates every value (the batch jobs' validator). */
export function buildSlurm(node: INodeForm): INodeSlurm | undefined {
  if (!node.enabled) {
    return undefined;
  }
  const slurm: Record<string, string> = {};
  for (const field of NODE_FIELDS) {
    const value = node[field].trim();
    if (value) {
      slurm[field] = value;
    }
  }
  return slurm as INodeSlurm;
}

export type SpecResult = { ok: true; spec: ISpec } | { ok: false; errors: string[] };

export type RegisterResult =
  { ok: true; request: IRegisterRequest } | { ok: false; errors: string[] };

export function emptyForm(runtime: string): IRegisterForm {
  return {
    image: '',
    displayName: '',
    runtime,
    gpu: 'auto',
    binds: '',
    modules: '',
    env: '',
    node: {
      enabled: false,
      partition: '',
      time: '',
      gres: '',
      cpus_per_task: '',
      mem: '',
      account: ''
    }
  };
}

/** Items of a list field; paths cannot hold commas (runtimes use them as separators). */
export function splitList(text: string, separators: RegExp = /[,\n]/): string[] {
  return text
    .split(separators)
    .map(item => item.trim())
    .filter(item => item !== '');
}

/** `NAME=value` lines as a mapping; blank lines and `# comments` are ignored. */
export function parseEnv(text: string): { env: Record<string, string>; errors: string[] } {
  const env: Record<string, string> = {};
  const errors: string[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) {
      return;
    }
    const eq = line.indexOf('=');
    const name = eq < 0 ? '' : line.slice(0, eq).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      errors.push(
        `Environment line ${index + 1}: ${JSON.stringify(line)} is not NAME=value ` +
          '(e.g. OMP_NUM_THREADS=4).'
      );
      return;
    }
    env[name] = line.slice(eq + 1).trim();
  });
  return { env, errors };
}

/** The spec the form describes (for probing and registering). */
export function buildSpec(form: IRegisterForm): SpecResult {
  const errors: string[] = [];
  const image = form.image.trim();
  if (!image) {
    errors.push(
      'Image: give the path of an image (a .sif file or an image directory), an image ' +
        'reference (docker://…, oras://…) or an archive (a docker save .tar, oci:…, oci-archive:…).'
    );
  }
  const { env, errors: envErrors } = parseEnv(form.env);
  errors.push(...envErrors);
  if (errors.length > 0) {
    return { ok: false, errors };
  }
  // The runtime comes from the server's own list (GET environment); it validates it again.
  const spec: ISpec = { image, runtime: form.runtime as ISpec['runtime'], gpu: form.gpu };
  const binds = splitList(form.binds);
  if (binds.length) {
    spec.binds = binds;
  }
  const modules = splitList(form.modules, /[\s,]+/);
  if (modules.length) {
    spec.modules = modules;
  }
  if (Object.keys(env).length) {
    spec.env = env;
  }
  return { ok: true, spec };
}

/** A display name from the image path: `/x/pytorch-2.7.sif` gives `pytorch-2.7 (container)`. */
export function defaultDisplayName(image: string): string {
  const base =
    image
      .trim()
      .replace(/\/+$/, '')
      .split('/')
      .pop()
      ?.replace(/\.(sif|simg|img|sqfs|squashfs|tar\.gz|tgz)$/i, '') ?? '';
  return base ? `${base} (container)` : '';
}

/** `POST kernels`: the spec, the display name (derived from the image when empty), a probe. */
export function buildRegisterRequest(form: IRegisterForm): RegisterResult {
  const spec = buildSpec(form);
  if (!spec.ok) {
    return spec;
  }
  const displayName = form.displayName.trim() || defaultDisplayName(spec.spec.image);
  const slurm = buildSlurm(form.node);
  return {
    ok: true,
    request: { display_name: displayName, spec: spec.spec, probe: true, ...(slurm && { slurm }) }
  };
}

/** What a probe found, in one line: `Python 3.11.2 · ipykernel 6.17.0 · torch 2.7.0`. */
export function describeProbe(probe: IProbe): string {
  if (!probe.ok) {
    return `Not usable: ${probe.message}`;
  }
  const parts: string[] = [];
  if (probe.python_version) {
    parts.push(`Python ${probe.python_version}`);
  }
  parts.push(probe.ipykernel_version ? `ipykernel ${probe.ipykernel_version}` : 'no ipykernel');
  for (const [name, version] of Object.entries(probe.packages ?? {}).sort()) {
    if (name !== 'ipykernel') {
      parts.push(`${name} ${version}`);
    }
  }
  return parts.join(' · ');
}

/** The image status shown for a kernel: `missing`, `not probed`, `usable` or `unusable`. */
export function imageStatus(kernel: IKernel): { state: string; text: string } {
  if (!kernel.image_present) {
    return { state: 'missing', text: `Image not found: ${kernel.spec.image}` };
  }
  if (!kernel.probe) {
    return { state: 'unknown', text: 'Image present (not probed yet)' };
  }
  return kernel.probe.ok
    ? { state: 'ok', text: describeProbe(kernel.probe) }
    : { state: 'error', text: describeProbe(kernel.probe) };
}

/** `/a/./b/../c//d/` → `/a/c/d`: a POSIX absolute path without `.`, `..` or empty parts
 * (`..` stops at `/`). */
function normalizeAbsolute(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '..') {
      parts.pop();
    } else if (part && part !== '.') {
      parts.push(part);
    }
  }
  return `/${parts.join('/')}`;
}

/**
 * The absolute path on the server of `relative`, a path relative to the server's root as
 * JupyterLab's file browser gives it (`images/torch.sif`).
 *
 * `serverRoot` is PageConfig's `serverRoot`: jupyter_server collapses a root inside `$HOME` to
 * `~/…`, which only the server can expand; `home` (the server's `$HOME`, when known) does.
 */
export function serverPath(
  relative: string,
  serverRoot: string,
  home: string | null = null
): { ok: true; path: string } | { ok: false; error: string } {
  let root = serverRoot.trim() || '/';
  if (root === '~' || root.startsWith('~/')) {
    if (!home || !home.startsWith('/')) {
      return {
        ok: false,
        error:
          `The server's root is ${serverRoot}, inside a home directory whose absolute path ` +
          `the server does not report, so the picked file's path (${relative}) cannot be made ` +
          'absolute here: type the image’s absolute path instead.'
      };
    }
    root = home + root.slice(1);
  }
  if (!root.startsWith('/')) {
    return {
      ok: false,
      error:
        `The server's root ${serverRoot} is not an absolute POSIX path, so the picked file's ` +
        `path (${relative}) cannot be made absolute: type the image’s absolute path instead.`
    };
  }
  return { ok: true, path: normalizeAbsolute(`${root}/${relative}`) };
}

/** `sha256:0123456789abcdef…` → `sha256:0123456789ab` (the full digest goes in a tooltip). */
export function shortDigest(digest: string): string {
  const [algorithm, hex] = digest.includes(':') ? digest.split(':', 2) : ['', digest];
  return algorithm ? `${algorithm}:${hex.slice(0, 12)}` : hex.slice(0, 12);
}

/** A node kernel's settings in one line: `gpu, 2:00:00, gpu:1` (empty: the site's defaults). */
export function slurmSummary(slurm: INodeSlurm): string {
  const parts = NODE_FIELDS.map(field => slurm[field])
    .filter(value => value !== undefined && value !== null && `${value}` !== '')
    .map(value => `${value}`);
  return parts.join(', ') || 'site defaults';
}
