/**
 * Turning the server's error responses into messages a user can act on.
 *
 * Pure (no JupyterLab imports) so it is unit-tested with node's test runner.
 */

/** The commands that install and enable the server half of this extension. */
export const FIX_COMMANDS: readonly string[] = [
  'pip install jupyter_container_kernels',
  'jupyter server extension enable jupyter_container_kernels'
];

/** An error answer of the `container-kernels/` REST API; `message` is the server's own. */
export class APIError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly endpoint: string
  ) {
    super(message);
    this.name = 'APIError';
  }
}

/** The server answered 404 for the whole namespace: the server extension is not running. */
export class ServerExtensionMissingError extends APIError {
  constructor(endpoint: string) {
    super(
      'The jupyter_container_kernels server extension is not running on this Jupyter server. ' +
        `Fix it with \`${FIX_COMMANDS[0]}\` and ` +
        `\`${FIX_COMMANDS[1]}\`, then restart JupyterLab.`,
      404,
      endpoint
    );
    this.name = 'ServerExtensionMissingError';
  }
}

/**
 * The `message` of a JSON error body (`{"message": "..."}`), or null when the body is not one.
 *
 * Tornado's own JSON errors carry `{"message": "Not Found"}`-style reasons too; those are
 * returned as they are (callers decide what a bare reason means).
 */
export function messageFromBody(body: string): string | null {
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    return null;
  }
  if (data && typeof data === 'object' && !Array.isArray(data)) {
    const message = (data as Record<string, unknown>).message;
    if (typeof message === 'string' && message.trim()) {
      return message.trim();
    }
  }
  return null;
}

/** The reasons Tornado and jupyter_server give for a route nobody handles. */
const BARE_NOT_FOUND = /^(404\s*:?\s*)?not found\.?$/i;

/**
 * The error for a failed response to `endpoint`.
 *
 * A 404 without a message of our server (an HTML page, an empty body, or Tornado's bare
 * "Not Found") means no handler is mounted under `container-kernels/`, so the error says which
 * commands install and enable it. Every other error carries the server's message verbatim,
 * falling back to the status and the start of the body.
 */
export function errorFromResponse(status: number, body: string, endpoint: string): APIError {
  const message = messageFromBody(body);
  if (status === 404 && (message === null || BARE_NOT_FOUND.test(message))) {
    return new ServerExtensionMissingError(endpoint);
  }
  if (message !== null) {
    return new APIError(message, status, endpoint);
  }
  const text = body
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const excerpt = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  return new APIError(
    `The server answered ${status} to ${endpoint}${excerpt ? `: ${excerpt}` : ' with no message'}.`,
    status,
    endpoint
  );
}

/** A one-line message for anything thrown (APIError, network errors, plain strings). */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    return error.message || error.name;
  }
  if (typeof error === 'string') {
    return error;
  }
  return String(error);
}
