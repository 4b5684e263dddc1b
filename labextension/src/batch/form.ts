/**
 * The batch dialog's form state and its mapping to a `SubmitRequest`.
 *
 * Pure (no JupyterLab imports) so it is unit-tested with node's test runner. The server
 * validates everything again (the same resource patterns as the CLI). What a parameter or
 * sweep field means is the server's to say (`POST batch/values`, the same Python reader as the
 * notebook's parameters cell): the frontend parses no Python literals.
 */
import type {
  IParameter,
  IPartition,
  IResources,
  ISubmitRequest,
  IValuesRequest,
  IValuesResponse
} from '../types';

/** Defaults from the settings registry (`schema/plugin.json`). */
export interface IBatchDefaults {
  partition: string;
  account: string;
  time: string;
}

/** Everything the dialog's fields hold, as typed. */
export interface IBatchForm {
  notebook: string;
  /** A kernelspec name; empty: the notebook's own kernel. */
  kernel: string;
  partition: string;
  time: string;
  cpus: string;
  mem: string;
  gpus: string;
  account: string;
  /** The notebook's parameters as found in its `parameters` cell. */
  defaults: IParameter[];
  /** The text of each parameter field, by name. */
  values: Record<string, string>;
  sweepEnabled: boolean;
  sweepName: string;
  sweepValues: string;
}

export type BuildResult =
  { ok: true; request: ISubmitRequest } | { ok: false; errors: string[]; request: null };

/** The initial form for `notebook`, filled from its parameters, settings and the partitions. */
export function initialForm(options: {
  notebook: string;
  kernel: string;
  parameters: IParameter[];
  defaults: IBatchDefaults;
  partitions: IPartition[];
}): IBatchForm {
  const { partitions, defaults } = options;
  const known = partitions.some(p => p.name === defaults.partition);
  // A configured partition the cluster does not have would fail at sbatch; fall back to the
  // cluster's default (empty = let Slurm pick) and let the user see the choice in the select.
  const partition =
    defaults.partition && (known || partitions.length === 0)
      ? defaults.partition
      : (partitions.find(p => p.default)?.name ?? '');
  return {
    notebook: options.notebook,
    kernel: options.kernel,
    partition,
    time: defaults.time,
    cpus: '',
    mem: '',
    gpus: '',
    account: defaults.account,
    defaults: options.parameters,
    values: Object.fromEntries(options.parameters.map(p => [p.name, p.literal])),
    sweepEnabled: false,
    sweepName: options.parameters[0]?.name ?? '',
    sweepValues: ''
  };
}

function wholeNumber(label: string, text: string, errors: string[], min: number): number | null {
  const trimmed = text.trim();
  if (!trimmed) {
    return null;
  }
  if (!/^\d+$/.test(trimmed) || Number(trimmed) < min) {
    errors.push(`${label}: ${JSON.stringify(trimmed)} is not a whole number ≥ ${min}.`);
    return null;
  }
  return Number(trimmed);
}

/** The Slurm resources the form asks for; empty fields are left to the cluster's defaults. */
export function buildResources(form: IBatchForm, errors: string[]): IResources {
  const resources: IResources = {};
  const text = (value: string) => value.trim();
  if (text(form.partition)) {
    resources.partition = text(form.partition);
  }
  if (text(form.time)) {
    resources.time = text(form.time);
  }
  if (text(form.mem)) {
    resources.mem = text(form.mem);
  }
  if (text(form.account)) {
    resources.account = text(form.account);
  }
  const cpus = wholeNumber('CPUs', form.cpus, errors, 1);
  if (cpus !== null) {
    resources.cpus_per_task = cpus;
  }
  const gpus = wholeNumber('GPUs', form.gpus, errors, 0);
  if (gpus) {
    resources.gpus = gpus;
  }
  return resources;
}

/** Asks the server what the typed parameter and sweep fields mean (`POST batch/values`). */
export type ReadValues = (texts: IValuesRequest) => Promise<IValuesResponse>;

/**
 * The texts of the parameter fields the user changed, and of the sweep; local mistakes (no
 * parameter chosen to sweep) are added to `errors`.
 *
 * A field still holding the notebook's own literal is not sent (the job keeps the notebook's
 * value); the swept parameter is sent as `sweep`, not as a parameter.
 */
export function fieldTexts(form: IBatchForm, errors: string[]): IValuesRequest {
  const texts: IValuesRequest = {};
  const sweepName = form.sweepEnabled ? form.sweepName.trim() : '';
  if (form.sweepEnabled) {
    if (!form.defaults.some(param => param.name === sweepName)) {
      errors.push('Sweep: choose the parameter to sweep.');
    } else {
      texts.sweep = { [sweepName]: form.sweepValues };
    }
  }
  const parameters: Record<string, string> = {};
  for (const param of form.defaults) {
    const text = form.values[param.name] ?? param.literal;
    if (param.name !== sweepName && text.trim() !== param.literal.trim()) {
      parameters[param.name] = text;
    }
  }
  if (Object.keys(parameters).length > 0) {
    texts.parameters = parameters;
  }
  return texts;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The request the form describes, or every reason it is not valid yet.
 *
 * The server reads the changed parameter fields and the sweep (`readValues`) only when the
 * rest of the form is valid and there is something to read.
 */
export async function buildSubmitRequest(
  form: IBatchForm,
  readValues: ReadValues
): Promise<BuildResult> {
  const errors: string[] = [];
  const resources = buildResources(form, errors);
  const texts = fieldTexts(form, errors);
  if (errors.length > 0) {
    return { ok: false, errors, request: null };
  }
  let values: IValuesResponse = { parameters: {}, sweep: {} };
  if (texts.parameters || texts.sweep) {
    try {
      values = await readValues(texts);
    } catch (error) {
      return { ok: false, errors: [describe(error)], request: null };
    }
  }
  const request: ISubmitRequest = {
    notebook: form.notebook,
    resources,
    parameters: values.parameters
  };
  if (form.kernel.trim()) {
    request.kernel = form.kernel.trim();
  }
  if (Object.keys(values.sweep).length > 0) {
    request.sweep = values.sweep;
  }
  return { ok: true, request };
}
