/**
 * Generated from jupyter_container_kernels/server/openapi.yaml by `jlpm generate:types`
 * (openapi-typescript); do not edit. `jlpm check:types` fails when it is out of date.
 */

export interface paths {
    "/kernels": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /**
         * Container kernels visible to this server, in every scope.
         * @description Reads kernel.json files and cached probes only; never runs a container.
         */
        get: operations["listKernels"];
        put?: never;
        /**
         * Register an image as a kernel of the current user.
         * @description The same validation and site policy as `jupyter container-kernels install`: the image
         *     must lie under the site's allowed image roots, and (unless `probe` is false) the image
         *     is probed and refused when it has no ipykernel.
         */
        post: operations["registerKernel"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/kernels/{name}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The kernelspec name (letters, digits, `.`, `_`, `-`).
                 * @example pytorch-2.7
                 */
                name: components["parameters"]["KernelName"];
            };
            cookie?: never;
        };
        /** One container kernel. */
        get: operations["getKernel"];
        put?: never;
        post?: never;
        /** Remove a kernel this user may edit. */
        delete: operations["removeKernel"];
        options?: never;
        head?: never;
        /** Change a kernel's display name or spec (a partial spec is merged). */
        patch: operations["updateKernel"];
        trace?: never;
    };
    "/images/probe": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** What an image contains (Python, ipykernel, packages); cached by image identity. */
        post: operations["probeImage"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/images/pulls": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** This server's pulls, newest first (running ones and the last finished ones). */
        get: operations["listPulls"];
        put?: never;
        /** Start pulling an image archive into the image store (a long-running operation: poll it with GET images/pulls/{id}); with `install`, register a kernel once it succeeded. */
        post: operations["startPull"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/images/pulls/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The pull operation's id (from POST images/pulls).
                 * @example 0f3c9a7e5d2b4c1a8e6f0b9d7c5a3e1f
                 */
                id: components["parameters"]["PullId"];
            };
            cookie?: never;
        };
        /** One pull operation, with its progress. */
        get: operations["getPull"];
        put?: never;
        post?: never;
        /** Cancel a running pull (it turns `cancelled` once the worker stops, leaving nothing in the store); a finished one is returned unchanged. */
        delete: operations["cancelPull"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/environment": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** What this node offers, for filling forms (cached for a few seconds). */
        get: operations["getEnvironment"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/batch/preview": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /** The sbatch script a submit with this request would use. */
        post: operations["previewBatchScript"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/batch/parameters": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * The notebook's `parameters` cell as the server reads it (the batch dialog's pre-fill).
         * @description Each top-level `name = literal` (or `name: type = literal`) statement of the first cell
         *     tagged `parameters` whose value is a JSON-like Python literal is a parameter; a later
         *     assignment to a name wins. Every other statement is listed in `skipped` with the reason,
         *     and runs as written.
         */
        post: operations["readNotebookParameters"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/batch/values": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * The texts typed into the batch dialog's parameter and sweep fields, as values.
         * @description A field holds a Python literal (`0.5`, `'adam'`, `[1, 2]`, `None`) or plain text without
         *     quotes or brackets, taken as a string (`adam`, `data/train.csv`). A sweep field holds
         *     such values separated by commas (`0.1, 0.01`), each distinct. The answer is the
         *     `parameters` and `sweep` of a SubmitRequest; the first bad field is a 400 naming it
         *     (`parameters.lr`).
         */
        post: operations["readParameterValues"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/jobs": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** The tracked batch jobs, newest first, as the shared watcher last saw them. */
        get: operations["listJobs"];
        put?: never;
        /** Submit a notebook as a Slurm batch job (a job array when `sweep` is given). */
        post: operations["submitJob"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/jobs/{id}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The Slurm job id.
                 * @example 4242
                 */
                id: components["parameters"]["JobId"];
            };
            cookie?: never;
        };
        /** One job, with the tail of its log. */
        get: operations["getJob"];
        put?: never;
        post?: never;
        /** Cancel a pending or running job (cancelling a finished job changes nothing). */
        delete: operations["cancelJob"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/node-kernels": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        /** This server's node kernels (queued, starting, running, ended), as Slurm last said. */
        get: operations["listNodeKernels"];
        put?: never;
        post?: never;
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/node-kernels/preview": {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        get?: never;
        put?: never;
        /**
         * The
         * @description The settings over the site's `node_defaults`, validated as a kernel's `slurm` block
         *     (400 naming the field). The Register image form shows the lines.
         */
        post: operations["previewNodeKernel"];
        delete?: never;
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
    "/node-kernels/{kernel_id}": {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The Jupyter kernel id of a node kernel.
                 * @example 5f0c2f4e-8a3b-4c1d-9e2f-7a6b5c4d3e2f
                 */
                kernel_id: components["parameters"]["KernelId"];
            };
            cookie?: never;
        };
        /** One node kernel's job. */
        get: operations["getNodeKernel"];
        put?: never;
        post?: never;
        /**
         * Cancel the kernel's Slurm job: a start waiting in the queue fails ("Cancelled from
         *     JupyterLab while waiting in the queue."), a running kernel is reported dead. Cancelling
         *     an ended one changes nothing.
         */
        delete: operations["cancelNodeKernel"];
        options?: never;
        head?: never;
        patch?: never;
        trace?: never;
    };
}
export type webhooks = Record<string, never>;
export interface components {
    schemas: {
        Error: {
            message: string;
            reason?: string | null;
        };
        /** @description ContainerSpec.to_dict() — the `config` of the container provisioner in kernel.json. */
        Spec: {
            /** @description Absolute path of the image (or a runtime's image reference / URI). */
            image: string;
            /** @enum {string} */
            runtime?: "apptainer" | "singularity" | "charliecloud" | "podman" | "podman-hpc" | "shifter";
            /** @enum {string} */
            gpu?: "auto" | "nvidia" | "rocm" | "none";
            binds?: string[];
            modules?: string[];
            env?: {
                [key: string]: string;
            };
            cleanenv?: boolean;
            python?: string;
            workdir?: string | null;
            runtime_args?: string[];
        };
        /** @description Keys of a Spec to change; the others stay as they are. */
        SpecPatch: {
            image?: string;
            /** @enum {string} */
            runtime?: "apptainer" | "singularity" | "charliecloud" | "podman" | "podman-hpc" | "shifter";
            /** @enum {string} */
            gpu?: "auto" | "nvidia" | "rocm" | "none";
            binds?: string[];
            modules?: string[];
            env?: {
                [key: string]: string;
            };
            cleanenv?: boolean;
            python?: string;
            workdir?: string | null;
            runtime_args?: string[];
        };
        RegisterRequest: {
            /** @description Kernelspec name; derived from the display name when omitted. */
            name?: string;
            display_name: string;
            spec: components["schemas"]["Spec"];
            /**
             * @description Probe the image first and refuse it without ipykernel.
             * @default true
             */
            probe?: boolean;
            slurm?: components["schemas"]["NodeSlurm"];
        };
        UpdateRequest: {
            display_name?: string;
            spec?: components["schemas"]["SpecPatch"];
            /** @description A node kernel's settings; null makes it run where the server runs. */
            slurm?: components["schemas"]["NodeSlurm"] | null;
        };
        /** @description A node kernel: it runs inside a Slurm job on a compute node. The resource fields are batch jobs' (validated alike; numbers are accepted for the counts); pending_timeout is the seconds the job may wait in the queue (0: no limit). */
        NodeSlurm: {
            partition?: string;
            account?: string;
            qos?: string;
            reservation?: string;
            /** @example 2:00:00 */
            time?: string;
            cpus_per_task?: string | number;
            /** @example 32G */
            mem?: string;
            gpus?: string | number;
            /** @example gpu:1 */
            gres?: string;
            pending_timeout?: number;
        };
        PullRequest: {
            /** @description docker://REF (a registry's image; the site's registry_cert_dir and registry_authfile apply), oras://REF (a SIF; runtime apptainer or singularity), docker-archive:PATH or the path of a `docker save` tarball, oci:DIR[:REF], oci-archive:PATH[:REF]; a relative path is relative to the server's root. */
            source: string;
            /** @description Name in the store (default from the image's tag). */
            name?: string;
            /** @description The image (a RepoTag) to take from a tarball holding several. */
            image?: string;
            /**
             * @description Unpack again even when an image of this digest is stored.
             * @default false
             */
            refresh?: boolean;
            runtime?: components["schemas"]["PullRuntime"];
            /** @description Register a kernel running the pulled image once the pull succeeded (as POST kernels, in the user scope; its runtime the body's, its image the stored one). */
            install?: {
                /** @description Kernelspec name; when omitted, derived from the stored image's name (e.g. `tool-1.2` for docker://…/tool:1.2), so a second kernel on one image needs one. */
                name?: string;
                display_name: string;
                /** @description Spec settings other than `image` and `runtime` (set by the pull), as in Spec (gpu, binds, modules, env…). */
                spec?: {
                    [key: string]: unknown;
                };
                /** @default true */
                probe?: boolean;
                slurm?: components["schemas"]["NodeSlurm"];
            };
        };
        /**
         * @description The runtime the image is pulled for: charliecloud (a directory image in the store), apptainer or singularity (a SIF in the store; oras:// needs one of these), podman (Podman's own storage).
         * @default charliecloud
         * @enum {string}
         */
        PullRuntime: "charliecloud" | "podman" | "apptainer" | "singularity";
        PullOperation: {
            id: string;
            /** @description The source as given. */
            source: string;
            runtime: components["schemas"]["PullRuntime"];
            /** @enum {string} */
            state: "running" | "succeeded" | "failed" | "cancelled";
            /**
             * @description download (from a registry), read (hashing a tarball), unpack (applying layers), convert (building a SIF), load (podman load) or probe (the pull is done; `install` probes the image before registering the kernel); null before the first event.
             * @enum {string|null}
             */
            phase: "download" | "read" | "unpack" | "convert" | "load" | "probe" | null;
            /** @description Bytes of the phase done (for podman, blobs). */
            done: number;
            /** @description Bytes of the phase in all; 0 when the tool does not say. */
            total: number;
            /** @description Why it failed or that it was cancelled. */
            error: string | null;
            /** @description The stored image (once pulled). */
            image_path: string | null;
            /** @description The image ID (sha256:…), once pulled. */
            digest: string | null;
            /** @description The kernel registered with `install`. */
            kernel: string | null;
        };
        Probe: {
            ok: boolean;
            message: string;
            python_version: string | null;
            ipykernel_version: string | null;
            platform: string | null;
            packages: {
                [key: string]: string;
            };
            cached: boolean;
            /** @description The digest (sha256:…) the image store recorded, for a pulled image. */
            image_digest?: string;
        };
        Kernel: {
            name: string;
            display_name: string;
            /** @enum {string} */
            scope: "user" | "sys-prefix" | "prefix" | "system";
            /** @description False for kernels this user may not change (system or catalog-managed). */
            editable: boolean;
            /** @description Created by a site catalog sync. */
            managed: boolean;
            resource_dir: string;
            spec: components["schemas"]["Spec"];
            image_present: boolean;
            /** @description The image's digest (sha256:…) when it was pulled into the image store. */
            image_digest?: string;
            slurm?: components["schemas"]["NodeSlurm"];
            /** @description Why probing this kernel's image would be refused by the site's policy (allowed_image_roots); null when a probe is allowed. */
            probe_refusal?: string | null;
            probe: components["schemas"]["Probe"] | null;
        };
        Environment: {
            /** @description The server's root directory as an absolute path (symlinks resolved). */
            server_root: string | null;
            runtimes: {
                name: string;
                /** @description Full path when found, else the name looked up. */
                executable: string | null;
                found: boolean;
            }[];
            /** @enum {string} */
            gpu: "nvidia" | "rocm" | "none";
            /** @enum {string|null} */
            module_system: "lmod" | "environment-modules" | null;
            slurm: {
                available: boolean;
                message: string | null;
                partitions: {
                    name: string;
                    default: boolean;
                    state: string;
                    gres: string | null;
                }[];
            };
            defaults: {
                runtime: string;
                binds: string[];
                modules: string[];
                cleanenv: boolean;
                allowed_image_roots: string[];
            };
        };
        /** @description Slurm resources; every field optional, validated against a strict pattern. */
        Resources: {
            partition?: string;
            /** @description sbatch --time, e.g. 01:00:00 or 2-00:00:00 */
            time?: string;
            nodes?: number | string;
            ntasks?: number | string;
            cpus_per_task?: number | string;
            /** @description sbatch --mem, e.g. 16G */
            mem?: string;
            gpus?: number | string;
            /** @description e.g. gpu:1 */
            gres?: string;
            account?: string;
            qos?: string;
            reservation?: string;
            job_name?: string;
        };
        SubmitRequest: {
            /** @description Notebook path relative to the server root (no `..`, not absolute). */
            notebook: string;
            /** @description Container kernel name; default the notebook's own kernelspec. */
            kernel?: string;
            resources?: components["schemas"]["Resources"];
            /** @description Values injected after the cell tagged `parameters` (papermill semantics). */
            parameters?: {
                [key: string]: components["schemas"]["ParameterValue"];
            };
            /** @description Several values per parameter; the job becomes a Slurm job array. */
            sweep?: {
                [key: string]: components["schemas"]["ParameterValue"][];
            };
            /**
             * @description notebook runs it with the container kernel (output notebook); script runs the converted notebook with the runtime directly (output in the log).
             * @default notebook
             * @enum {string}
             */
            mode?: "notebook" | "script";
            /**
             * @description Multi-node launch (script mode only) — srun per task, or torchrun per node.
             * @default none
             * @enum {string}
             */
            template?: "none" | "mpi" | "torchrun";
            /** @description Directory for the log, script and outputs, relative to the server root (default the notebook's directory; created when missing). */
            output_dir?: string;
        };
        /** @description A JSON value a notebook parameter can take. */
        ParameterValue: string | number | boolean | null | unknown[] | {
            [key: string]: unknown;
        };
        /** @description One `name = literal` statement of the parameters cell. */
        Parameter: {
            name: string;
            value: components["schemas"]["ParameterValue"];
            /** @description The value as written in the notebook. */
            literal: string;
            /** @description The type annotation as written (`lr: float = 0.1` gives `float`). */
            annotation: string | null;
            /** @description The `# comment` after the value, without the `#`. */
            comment: string | null;
        };
        /** @description A statement of the parameters cell that is not a parameter (it runs as written). */
        SkippedLine: {
            /** @description Line in the cell where it starts. */
            line: number;
            /** @description That line. */
            text: string;
            reason: string;
        };
        ParametersCell: {
            /** @description Whether a cell is tagged `parameters` (false: both lists are empty). */
            has_parameters_cell: boolean;
            parameters: components["schemas"]["Parameter"][];
            skipped: components["schemas"]["SkippedLine"][];
        };
        /**
         * @description The state of a job or array task: Slurm's job state (`squeue`/`sacct`, first word), or
         *     UNKNOWN when Slurm no longer knows the job and its outputs do not say how it ended.
         * @enum {string}
         */
        JobState: "PENDING" | "CONFIGURING" | "RUNNING" | "COMPLETING" | "SUSPENDED" | "STOPPED" | "SIGNALING" | "RESIZING" | "REQUEUED" | "REQUEUE_FED" | "REQUEUE_HOLD" | "RESV_DEL_HOLD" | "STAGE_OUT" | "COMPLETED" | "FAILED" | "CANCELLED" | "TIMEOUT" | "OUT_OF_MEMORY" | "NODE_FAIL" | "BOOT_FAIL" | "DEADLINE" | "PREEMPTED" | "REVOKED" | "SPECIAL_EXIT" | "UNKNOWN";
        /**
         * @description The states after which a job never changes again (the server stops polling).
         * @enum {string}
         */
        TerminalJobState: "COMPLETED" | "FAILED" | "CANCELLED" | "TIMEOUT" | "OUT_OF_MEMORY" | "NODE_FAIL" | "BOOT_FAIL" | "DEADLINE" | "PREEMPTED" | "REVOKED" | "SPECIAL_EXIT" | "UNKNOWN";
        JobTask: {
            index: number;
            state: components["schemas"]["JobState"];
            exit_code: number | null;
            output_notebook: string | null;
        };
        Job: {
            /** @description The Slurm job id. */
            id: string;
            name: string;
            state: components["schemas"]["JobState"];
            reason: string | null;
            exit_code: number | null;
            /** Format: date-time */
            submitted: string | null;
            /** Format: date-time */
            started: string | null;
            /** Format: date-time */
            ended: string | null;
            /** @description Relative to the server root when inside it, else absolute (CLI submits). */
            notebook: string;
            kernel: string;
            output_notebooks: string[];
            log_path: string | null;
            array_size: number | null;
            tasks: components["schemas"]["JobTask"][];
        };
        JobDetail: components["schemas"]["Job"] & {
            log_tail: string;
        };
        /**
         * @description NodeJob.to_dict(): a node kernel's Slurm job as the server last saw it. Times are Slurm's
         *     (local time of the cluster, ISO 8601 without a zone).
         */
        NodeKernel: {
            kernel_id: string;
            /** @description The kernelspec's name. */
            kernel_name: string;
            display_name: string;
            /** @description Null until sbatch answered. */
            job_id: string | null;
            /**
             * @description SUBMITTING until sbatch answered, then Slurm's job state (first word: PENDING,
             *     CONFIGURING, RUNNING, COMPLETING, CANCELLED, TIMEOUT, COMPLETED, FAILED, NODE_FAIL…).
             */
            state: string;
            /** @description Slurm's reason (why it waits, e.g. Priority, Resources, QOSMaxGRESPerUser). */
            reason: string | null;
            /** @description The compute node, once allocated. */
            node: string | null;
            /** @description The address the kernel's ports are reached on (its node agent's host). */
            address: string | null;
            submitted: string | null;
            /** @description Slurm's estimated start, only while PENDING (null when it has none). */
            start_estimate: string | null;
            started: string | null;
            /** @description Slurm's format, e.g. `2:00:00`, `1-00:00:00`, `UNLIMITED`. */
            time_limit: string | null;
            /** @description Wall time left while RUNNING (null without a limit or when not running). */
            seconds_left: number | null;
            /** @description Why the job ended or the start failed. */
            message: string | null;
            /** @description True while squeue fails; `state` is then the last known one. */
            state_unknown: boolean;
        };
    };
    responses: {
        /** @description Invalid input; the message names the field, the reason and the fix. */
        Invalid: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description Not authenticated or authorized, missing XSRF token, or refused by site policy. */
        Forbidden: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description No such kernel, job, pull, node kernel or notebook. */
        NotFound: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description Conflicts with what exists (a kernel of that name, a read-only kernel). */
        Conflict: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description A runtime or Slurm command failed; the message quotes its stderr. */
        BadGateway: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description A container runtime or Slurm is not available on this server. */
        Unavailable: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
        /** @description A runtime or Slurm command did not answer in time. */
        TimedOut: {
            headers: {
                [name: string]: unknown;
            };
            content: {
                "application/json": components["schemas"]["Error"];
            };
        };
    };
    parameters: {
        /**
         * @description The kernelspec name (letters, digits, `.`, `_`, `-`).
         * @example pytorch-2.7
         */
        KernelName: string;
        /**
         * @description The Slurm job id.
         * @example 4242
         */
        JobId: string;
        /**
         * @description The Jupyter kernel id of a node kernel.
         * @example 5f0c2f4e-8a3b-4c1d-9e2f-7a6b5c4d3e2f
         */
        KernelId: string;
        /**
         * @description The pull operation's id (from POST images/pulls).
         * @example 0f3c9a7e5d2b4c1a8e6f0b9d7c5a3e1f
         */
        PullId: string;
    };
    requestBodies: never;
    headers: never;
    pathItems: never;
}
export type $defs = Record<string, never>;
export interface operations {
    listKernels: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The container kernels. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        kernels: components["schemas"]["Kernel"][];
                    };
                };
            };
            403: components["responses"]["Forbidden"];
        };
    };
    registerKernel: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "name": "pytorch-2.7",
                 *       "display_name": "PyTorch 2.7 (container)",
                 *       "spec": {
                 *         "image": "/shared/images/pytorch-2.7.sif",
                 *         "runtime": "apptainer",
                 *         "gpu": "auto",
                 *         "binds": [
                 *           "/scratch",
                 *           "/projects:/projects:ro"
                 *         ],
                 *         "modules": [
                 *           "cuda/12.4"
                 *         ]
                 *       },
                 *       "probe": false
                 *     }
                 */
                "application/json": components["schemas"]["RegisterRequest"];
            };
        };
        responses: {
            /** @description The new kernel. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Kernel"];
                };
            };
            400: components["responses"]["Invalid"];
            403: components["responses"]["Forbidden"];
            409: components["responses"]["Conflict"];
            502: components["responses"]["BadGateway"];
            503: components["responses"]["Unavailable"];
            504: components["responses"]["TimedOut"];
        };
    };
    getKernel: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The kernelspec name (letters, digits, `.`, `_`, `-`).
                 * @example pytorch-2.7
                 */
                name: components["parameters"]["KernelName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The kernel. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Kernel"];
                };
            };
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
        };
    };
    removeKernel: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The kernelspec name (letters, digits, `.`, `_`, `-`).
                 * @example pytorch-2.7
                 */
                name: components["parameters"]["KernelName"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Removed. */
            204: {
                headers: {
                    [name: string]: unknown;
                };
                content?: never;
            };
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
        };
    };
    updateKernel: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The kernelspec name (letters, digits, `.`, `_`, `-`).
                 * @example pytorch-2.7
                 */
                name: components["parameters"]["KernelName"];
            };
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "display_name": "PyTorch 2.7 (container, no GPU)",
                 *       "spec": {
                 *         "gpu": "none"
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["UpdateRequest"];
            };
        };
        responses: {
            /** @description The updated kernel. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Kernel"];
                };
            };
            400: components["responses"]["Invalid"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            409: components["responses"]["Conflict"];
        };
    };
    probeImage: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "spec": {
                 *         "image": "/shared/images/pytorch-2.7.sif",
                 *         "runtime": "apptainer"
                 *       }
                 *     }
                 */
                "application/json": {
                    spec: components["schemas"]["Spec"];
                };
            };
        };
        responses: {
            /** @description The probe result (ok false with a message when the image cannot run a kernel). */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Probe"];
                };
            };
            400: components["responses"]["Invalid"];
            403: components["responses"]["Forbidden"];
            502: components["responses"]["BadGateway"];
            503: components["responses"]["Unavailable"];
            504: components["responses"]["TimedOut"];
        };
    };
    listPulls: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The pull operations. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        pulls: components["schemas"]["PullOperation"][];
                    };
                };
            };
            403: components["responses"]["Forbidden"];
        };
    };
    startPull: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "source": "docker-archive:images/pytorch.tar",
                 *       "name": "pytorch",
                 *       "install": {
                 *         "display_name": "PyTorch (pulled)",
                 *         "probe": false
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["PullRequest"];
            };
        };
        responses: {
            /** @description The operation, running; its URL is in the Location header. */
            202: {
                headers: {
                    /** @description The operation's URL. */
                    Location?: string;
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PullOperation"];
                };
            };
            400: components["responses"]["Invalid"];
            403: components["responses"]["Forbidden"];
        };
    };
    getPull: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The pull operation's id (from POST images/pulls).
                 * @example 0f3c9a7e5d2b4c1a8e6f0b9d7c5a3e1f
                 */
                id: components["parameters"]["PullId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The operation. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PullOperation"];
                };
            };
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
        };
    };
    cancelPull: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The pull operation's id (from POST images/pulls).
                 * @example 0f3c9a7e5d2b4c1a8e6f0b9d7c5a3e1f
                 */
                id: components["parameters"]["PullId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The operation after the cancel request. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["PullOperation"];
                };
            };
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
        };
    };
    getEnvironment: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description Runtimes, GPU, module system, Slurm and site defaults. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Environment"];
                };
            };
            403: components["responses"]["Forbidden"];
        };
    };
    previewBatchScript: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "notebook": "project/train.ipynb",
                 *       "kernel": "pytorch-2.7",
                 *       "resources": {
                 *         "partition": "gpu",
                 *         "time": "02:00:00",
                 *         "gres": "gpu:1",
                 *         "mem": "16G"
                 *       },
                 *       "parameters": {
                 *         "epochs": 10
                 *       },
                 *       "sweep": {
                 *         "lr": [
                 *           0.1,
                 *           0.01
                 *         ]
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["SubmitRequest"];
            };
        };
        responses: {
            /** @description The script. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        script: string;
                    };
                };
            };
            400: components["responses"]["Invalid"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
        };
    };
    readNotebookParameters: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "notebook": "project/train.ipynb"
                 *     }
                 */
                "application/json": {
                    /** @description Notebook path relative to the server root (no `..`, not absolute). */
                    notebook: string;
                };
            };
        };
        responses: {
            /** @description The parameters, in order, and the statements that are not parameters. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["ParametersCell"];
                };
            };
            400: components["responses"]["Invalid"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
        };
    };
    readParameterValues: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "parameters": {
                 *         "optimizer": "adam",
                 *         "epochs": "10"
                 *       },
                 *       "sweep": {
                 *         "lr": "0.1, 0.01"
                 *       }
                 *     }
                 */
                "application/json": {
                    /** @description Parameter name -> the text of its field. */
                    parameters?: {
                        [key: string]: string;
                    };
                    /** @description Parameter name -> the comma-separated values of its sweep. */
                    sweep?: {
                        [key: string]: string;
                    };
                };
            };
        };
        responses: {
            /** @description The values. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        parameters: {
                            [key: string]: components["schemas"]["ParameterValue"];
                        };
                        sweep: {
                            [key: string]: components["schemas"]["ParameterValue"][];
                        };
                    };
                };
            };
            400: components["responses"]["Invalid"];
            403: components["responses"]["Forbidden"];
        };
    };
    listJobs: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The jobs. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        jobs: components["schemas"]["Job"][];
                    };
                };
            };
            403: components["responses"]["Forbidden"];
        };
    };
    submitJob: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "notebook": "project/train.ipynb",
                 *       "kernel": "pytorch-2.7",
                 *       "resources": {
                 *         "partition": "gpu",
                 *         "time": "02:00:00",
                 *         "gres": "gpu:1",
                 *         "mem": "16G"
                 *       },
                 *       "parameters": {
                 *         "epochs": 10
                 *       },
                 *       "sweep": {
                 *         "lr": [
                 *           0.1,
                 *           0.01
                 *         ]
                 *       }
                 *     }
                 */
                "application/json": components["schemas"]["SubmitRequest"];
            };
        };
        responses: {
            /** @description The submitted job. */
            201: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Job"];
                };
            };
            400: components["responses"]["Invalid"];
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            502: components["responses"]["BadGateway"];
            503: components["responses"]["Unavailable"];
            504: components["responses"]["TimedOut"];
        };
    };
    getJob: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The Slurm job id.
                 * @example 4242
                 */
                id: components["parameters"]["JobId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The job. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["JobDetail"];
                };
            };
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
        };
    };
    cancelJob: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The Slurm job id.
                 * @example 4242
                 */
                id: components["parameters"]["JobId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The job after the cancel request. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["Job"];
                };
            };
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            502: components["responses"]["BadGateway"];
            503: components["responses"]["Unavailable"];
            504: components["responses"]["TimedOut"];
        };
    };
    listNodeKernels: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The node kernels, and whether Slurm answered the last round. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        node_kernels: components["schemas"]["NodeKernel"][];
                        /**
                         * @description Why the last `squeue` failed, or null. While set, the states are the last
                         *     known ones (`state_unknown` is true on the live kernels).
                         */
                        scheduler_error: string | null;
                    };
                };
            };
            403: components["responses"]["Forbidden"];
        };
    };
    previewNodeKernel: {
        parameters: {
            query?: never;
            header?: never;
            path?: never;
            cookie?: never;
        };
        requestBody: {
            content: {
                /**
                 * @example {
                 *       "slurm": {
                 *         "partition": "gpu",
                 *         "time": "2:00:00",
                 *         "gres": "gpu:1"
                 *       }
                 *     }
                 */
                "application/json": {
                    slurm: components["schemas"]["NodeSlurm"];
                };
            };
        };
        responses: {
            /** @description The lines, and the settings with the site's defaults applied. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": {
                        sbatch: string[];
                        slurm: components["schemas"]["NodeSlurm"];
                    };
                };
            };
            400: components["responses"]["Invalid"];
            403: components["responses"]["Forbidden"];
        };
    };
    getNodeKernel: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The Jupyter kernel id of a node kernel.
                 * @example 5f0c2f4e-8a3b-4c1d-9e2f-7a6b5c4d3e2f
                 */
                kernel_id: components["parameters"]["KernelId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The node kernel. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["NodeKernel"];
                };
            };
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
        };
    };
    cancelNodeKernel: {
        parameters: {
            query?: never;
            header?: never;
            path: {
                /**
                 * @description The Jupyter kernel id of a node kernel.
                 * @example 5f0c2f4e-8a3b-4c1d-9e2f-7a6b5c4d3e2f
                 */
                kernel_id: components["parameters"]["KernelId"];
            };
            cookie?: never;
        };
        requestBody?: never;
        responses: {
            /** @description The node kernel after the cancel request. */
            200: {
                headers: {
                    [name: string]: unknown;
                };
                content: {
                    "application/json": components["schemas"]["NodeKernel"];
                };
            };
            403: components["responses"]["Forbidden"];
            404: components["responses"]["NotFound"];
            502: components["responses"]["BadGateway"];
            503: components["responses"]["Unavailable"];
            504: components["responses"]["TimedOut"];
        };
    };
}
type FlattenedDeepRequired<T> = {
    [K in keyof T]-?: FlattenedDeepRequired<T[K] extends unknown[] | undefined | null ? Extract<T[K], unknown[]>[number] : T[K]>;
};
type ReadonlyArray<T> = [
    Exclude<T, undefined>
] extends [
    unknown[]
] ? Readonly<Exclude<T, undefined>> : Readonly<Exclude<T, undefined>[]>;
export const specRuntimeValues: ReadonlyArray<FlattenedDeepRequired<components>["schemas"]["Spec"]["runtime"]> = ["apptainer", "singularity", "charliecloud", "podman", "podman-hpc", "shifter"];
export const specGpuValues: ReadonlyArray<FlattenedDeepRequired<components>["schemas"]["Spec"]["gpu"]> = ["auto", "nvidia", "rocm", "none"];
export const specPatchRuntimeValues: ReadonlyArray<FlattenedDeepRequired<components>["schemas"]["SpecPatch"]["runtime"]> = ["apptainer", "singularity", "charliecloud", "podman", "podman-hpc", "shifter"];
export const specPatchGpuValues: ReadonlyArray<FlattenedDeepRequired<components>["schemas"]["SpecPatch"]["gpu"]> = ["auto", "nvidia", "rocm", "none"];
export const pullRuntimeValues: ReadonlyArray<FlattenedDeepRequired<components>["schemas"]["PullRuntime"]> = ["charliecloud", "podman", "apptainer", "singularity"];
export const pullOperationStateValues: ReadonlyArray<FlattenedDeepRequired<components>["schemas"]["PullOperation"]["state"]> = ["running", "succeeded", "failed", "cancelled"];
export const kernelScopeValues: ReadonlyArray<FlattenedDeepRequired<components>["schemas"]["Kernel"]["scope"]> = ["user", "sys-prefix", "prefix", "system"];
export const environmentGpuValues: ReadonlyArray<FlattenedDeepRequired<components>["schemas"]["Environment"]["gpu"]> = ["nvidia", "rocm", "none"];
export const submitRequestModeValues: ReadonlyArray<FlattenedDeepRequired<components>["schemas"]["SubmitRequest"]["mode"]> = ["notebook", "script"];
export const submitRequestTemplateValues: ReadonlyArray<FlattenedDeepRequired<components>["schemas"]["SubmitRequest"]["template"]> = ["none", "mpi", "torchrun"];
export const jobStateValues: ReadonlyArray<FlattenedDeepRequired<components>["schemas"]["JobState"]> = ["PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "RESIZING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD", "STAGE_OUT", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "UNKNOWN"];
export const terminalJobStateValues: ReadonlyArray<FlattenedDeepRequired<components>["schemas"]["TerminalJobState"]> = ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "UNKNOWN"];
