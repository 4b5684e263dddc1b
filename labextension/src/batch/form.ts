/**
 * The batch dialog's form state and its mapping to a `SubmitRequest`.
 *
 * Pure (no JupyterLab imports) so it is unit-tested with node's test runner. The server
 * validates everything again (the same resource patterns as the CLI); the frontend only turns
 * text fields into typed values and says which field is wrong before a request is sent.
 */
import type { IPartition, IResources, ISubmitRequest, ParameterValue } from '../types';
import { valueFromInput } from './literal';
import type { IParameter } from './parameters';
import { parseSweepValues } from './sweep';

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
  | { ok: true; request: ISubmitRequest }
  | { ok: false; errors: string[]; request: null };

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

/**
 * The request the form describes.
 *
 * Only parameters whose field differs from the notebook's own literal are sent (the rest keep
 * the notebook's values); the swept parameter is sent as `sweep`, not as a parameter.
 */
export function buildSubmitRequest(form: IBatchForm): BuildResult {
  const errors: string[] = [];
  const resources = buildResources(form, errors);

  const sweepName = form.sweepEnabled ? form.sweepName.trim() : '';
  let sweep: Record<string, ParameterValue[]> | undefined;
  if (form.sweepEnabled) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(sweepName)) {
      errors.push('Sweep: choose the parameter to sweep.');
    } else {
      const values = parseSweepValues(form.sweepValues);
      if (values.ok) {
        sweep = { [sweepName]: values.values };
      } else {
        errors.push(`Sweep over ${sweepName}: ${values.error}.`);
      }
    }
  }

  const parameters: Record<string, ParameterValue> = {};
  for (const param of form.defaults) {
    const text = form.values[param.name] ?? param.literal;
    if (param.name === sweepName || text.trim() === param.literal) {
      continue;
    }
    const value = valueFromInput(text);
    if (value.ok) {
      parameters[param.name] = value.value;
    } else {
      errors.push(`Parameter ${param.name}: ${value.error}.`);
    }
  }

  if (errors.length > 0) {
    return { ok: false, errors, request: null };
  }
  const request: ISubmitRequest = { notebook: form.notebook, resources, parameters };
  if (form.kernel.trim()) {
    request.kernel = form.kernel.trim();
  }
  if (sweep) {
    request.sweep = sweep;
  }
  return { ok: true, request };
}
