/**
 * The REST shapes of the `container-kernels/` server extension, by the names the code uses.
 *
 * Every shape comes from `schema.ts`, generated from the server's openapi.yaml
 * (`jlpm generate:types`; `jlpm check:types` fails when it is out of date), so the frontend
 * holds no hand-written copy of a server contract.
 */
import type { components, operations } from './schema';
import { pullRuntimeValues, terminalJobStateValues } from './schema';

type Schemas = components['schemas'];
type JSONBody<T> = T extends { content: { 'application/json': infer B } } ? B : never;

/** Where a kernelspec is installed. Only `user` kernels can be removed from the UI. */
export type KernelScope = Schemas['Kernel']['scope'];

/** Which accelerator a kernel asks for; `auto` follows the node it runs on. */
export type GpuChoice = NonNullable<Schemas['Spec']['gpu']>;

/** `ContainerSpec.to_dict()`: how to run Python in one image (defaults left out). */
export type ISpec = Schemas['Spec'];

/** What a one-shot run of the image found (`POST images/probe`). */
export type IProbe = Schemas['Probe'];

/** One container kernel (`GET kernels`). */
export type IKernel = Schemas['Kernel'];

/** `POST kernels`. */
export type IRegisterRequest = Schemas['RegisterRequest'];

/** A node kernel's Slurm settings (kernel.json's `slurm` block). */
export type INodeSlurm = Schemas['NodeSlurm'];

/** `GET environment`: what this server can run, used to fill the forms. */
export type IEnvironment = Schemas['Environment'];

export type IRuntimeInfo = IEnvironment['runtimes'][number];

export type IPartition = IEnvironment['slurm']['partitions'][number];

/** Slurm resources of a batch job; every field is optional (the cluster's defaults apply). */
export type IResources = Schemas['Resources'];

/** A JSON value a notebook parameter can take. */
export type ParameterValue = Schemas['ParameterValue'];

/** `POST batch/preview` and `POST jobs`. */
export type ISubmitRequest = Schemas['SubmitRequest'];

/** `POST batch/preview`. */
export type IPreview = JSONBody<operations['previewBatchScript']['responses'][200]>;

/** `POST batch/parameters`: the notebook's `parameters` cell as the server reads it. */
export type IParametersCell = Schemas['ParametersCell'];

/** One `name = literal` statement of the parameters cell. */
export type IParameter = Schemas['Parameter'];

/** A statement of the parameters cell that is not a parameter (it runs as written). */
export type ISkippedLine = Schemas['SkippedLine'];

/** `POST batch/values`: the texts typed into parameter and sweep fields … */
export type IValuesRequest = NonNullable<
  JSONBody<NonNullable<operations['readParameterValues']['requestBody']>>
>;

/** … and the `parameters` and `sweep` of a submit request they mean. */
export type IValuesResponse = JSONBody<operations['readParameterValues']['responses'][200]>;

/** The state of a job or array task, as the server reports it. */
export type JobState = Schemas['JobState'];

/** A state after which a job never changes again. */
export type TerminalJobState = Schemas['TerminalJobState'];

/** The terminal states (the server's `TERMINAL`), from openapi.yaml. */
export const TERMINAL_JOB_STATES: readonly TerminalJobState[] = terminalJobStateValues;

/** One task of a job array (a sweep). */
export type IJobTask = Schemas['JobTask'];

/** A batch job (`GET jobs`); `GET jobs/{id}` adds `log_tail`. */
export type IJob = Schemas['Job'] & { log_tail?: string };

/** A kernel running inside a Slurm job on a compute node (`GET node-kernels`). */
export type INodeKernel = Schemas['NodeKernel'];

/** `GET node-kernels`: the node kernels, and why the last `squeue` failed (or null). */
export type INodeKernelList = JSONBody<operations['listNodeKernels']['responses'][200]>;
/** A runtime images can be pulled for (`POST images/pulls`'s `runtime`). */
export type PullRuntime = Schemas['PullRuntime'];

/** The runtimes images can be pulled for, from openapi.yaml (the server's `PULL_RUNTIMES`). */
export const PULL_RUNTIMES: readonly PullRuntime[] = pullRuntimeValues;

/** `POST images/pulls`: pull an image reference or archive, optionally registering a kernel. */
export type IPullRequest = Schemas['PullRequest'];

/** A pull as a long-running operation (`GET images/pulls/{id}`). */
export type IPullOperation = Schemas['PullOperation'];
