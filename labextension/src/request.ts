/**
 * `requestAPI`: calls to the `container-kernels/` REST API of the server extension.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { errorFromResponse } from './errors';

/** The URL namespace of the server extension, under the server's base URL. */
export const API_NAMESPACE = 'container-kernels';

/**
 * Call `endpoint` (e.g. `kernels`, `jobs/42`) and return the parsed JSON body.
 *
 * Rejects with an `APIError` whose message is the server's own (`{"message": ...}`), or with a
 * `ServerExtensionMissingError` naming the commands that fix it when nothing answers under
 * `container-kernels/`. A 204 (or empty body) resolves to `undefined`.
 */
export async function requestAPI<T>(
  endpoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endpoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }
  const body = await response.text();
  if (!response.ok) {
    throw errorFromResponse(response.status, body, endpoint);
  }
  if (response.status === 204 || !body.trim()) {
    return undefined as T;
  }
  return JSON.parse(body) as T;
}

/** `requestAPI` with a JSON body. */
export function sendJSON<T>(
  endpoint: string,
  method: 'POST' | 'PATCH' | 'DELETE',
  body?: unknown
): Promise<T> {
  return requestAPI<T>(endpoint, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' }
  });
}
