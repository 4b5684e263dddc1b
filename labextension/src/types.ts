/**
 * The REST shapes of the `container-kernels/` server extension (see the package's openapi.yaml).
 *
 * Only types: this module is safe to import from the pure logic modules and their unit tests.
 */

/** Where a kernelspec is installed. Only `user` kernels can be removed from the UI. */
export type KernelScope = 'user' | 'sys-prefix' | 'prefix' | 'system';

/** Which accelerator a kernel asks for; `auto` follows the node it runs on. */
export type GpuChoice = 'auto' | 'nvidia' | 'rocm' | 'none';

/** `ContainerSpec.to_dict()`: how to run Python in one image (defaults left out). */
export interface ISpec {
  image: string;
  runtime?: string;
  gpu?: GpuChoice;
  binds?: string[];
  modules?: string[];
  env?: Record<string, string>;
  cleanenv?: boolean;
  python?: string;
  workdir?: string;
  runtime_args?: string[];
}

/** What a one-shot run of the image found (`POST images/probe`). */
export interface IProbe {
  ok: boolean;
  message: string;
  python_version: string | null;
  ipykernel_version: string | null;
  platform: string | null;
  packages: Record<string, string>;
  cached: boolean;
}

/** One container kernel (`GET kernels`). */
export interface IKernel {
  name: string;
  display_name: string;
  scope: KernelScope;
  editable: boolean;
  managed: boolean;
  resource_dir: string;
  spec: ISpec;
  image_present: boolean;
  probe: IProbe | null;
}

/** `POST kernels`. */
export interface IRegisterRequest {
  name?: string;
  display_name: string;
  spec: ISpec;
  probe?: boolean;
}

export interface IRuntimeInfo {
  name: string;
  executable: string | null;
  found: boolean;
}

export interface IPartition {
  name: string;
  default: boolean;
  state: string;
  gres: string | null;
}

/** `GET environment`: what this server can run, used to fill the forms. */
export interface IEnvironment {
  runtimes: IRuntimeInfo[];
  gpu: 'nvidia' | 'rocm' | 'none';
  module_system: 'lmod' | 'environment-modules' | null;
  slurm: {
    available: boolean;
    message: string | null;
    partitions: IPartition[];
  };
  defaults: {
    runtime: string;
    binds: string[];
    modules: string[];
    cleanenv: boolean;
    allowed_image_roots: string[];
  };
}

/** Slurm resources of a batch job; every field is optional (the cluster's defaults apply). */
export interface IResources {
  partition?: string;
  time?: string;
  nodes?: number;
  ntasks?: number;
  cpus_per_task?: number;
  mem?: string;
  gpus?: number;
  gres?: string;
  account?: string;
  qos?: string;
  reservation?: string;
  job_name?: string;
}

/** A JSON value a notebook parameter can take. */
export type ParameterValue =
  | string
  | number
  | boolean
  | null
  | ParameterValue[]
  | { [key: string]: ParameterValue };

/** `POST batch/preview` and `POST jobs`. */
export interface ISubmitRequest {
  notebook: string;
  kernel?: string;
  resources?: IResources;
  parameters?: Record<string, ParameterValue>;
  sweep?: Record<string, ParameterValue[]>;
  mode?: 'notebook' | 'script';
}

export interface IPreview {
  script: string;
}

/** One task of a job array (a sweep). */
export interface IJobTask {
  index: number;
  state: string;
  exit_code: number | null;
  output_notebook: string | null;
}

/** A batch job (`GET jobs`, `GET jobs/{id}` adds `log_tail`). */
export interface IJob {
  id: string;
  name: string;
  state: string;
  reason: string | null;
  exit_code: number | null;
  submitted: string | null;
  started: string | null;
  ended: string | null;
  notebook: string;
  kernel: string;
  output_notebooks: string[];
  log_path: string | null;
  array_size: number | null;
  tasks: IJobTask[];
  log_tail?: string;
}
