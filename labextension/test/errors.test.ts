/**
 * Error responses: the server's message verbatim, and the fix when the server half is missing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  APIError,
  describeError,
  errorFromResponse,
  FIX_COMMANDS,
  messageFromBody,
  ServerExtensionMissingError
} from '../src/errors';

describe('messageFromBody', () => {
  it('reads {"message": ...} and nothing else', () => {
    assert.equal(messageFromBody('{"message": " image: not found "}'), 'image: not found');
    assert.equal(messageFromBody('{"reason": "x"}'), null);
    assert.equal(messageFromBody('{"message": ""}'), null);
    assert.equal(messageFromBody('[1]'), null);
    assert.equal(messageFromBody('<html>404</html>'), null);
  });
});

describe('errorFromResponse', () => {
  it('carries the server message and status for contract errors', () => {
    const error = errorFromResponse(409, '{"message": "kernel pytorch exists"}', 'kernels');
    assert.ok(error instanceof APIError);
    assert.ok(!(error instanceof ServerExtensionMissingError));
    assert.equal(error.message, 'kernel pytorch exists');
    assert.equal(error.status, 409);
  });

  it('keeps a 404 with our own message (an unknown job) as that message', () => {
    const error = errorFromResponse(404, '{"message": "no job 42"}', 'jobs/42');
    assert.ok(!(error instanceof ServerExtensionMissingError));
    assert.equal(error.message, 'no job 42');
  });

  it('says which commands fix a missing server extension', () => {
    for (const body of [
      '<html><title>404 : Not Found</title></html>',
      '',
      '{"message": "Not Found", "reason": null}'
    ]) {
      const error = errorFromResponse(404, body, 'kernels');
      assert.ok(error instanceof ServerExtensionMissingError, body);
      for (const command of FIX_COMMANDS) {
        assert.ok(error.message.includes(command), command);
      }
    }
    assert.ok(FIX_COMMANDS.includes('pip install jupyter_container_kernels'));
    assert.ok(FIX_COMMANDS.includes('jupyter server extension enable jupyter_container_kernels'));
  });

  it('falls back to the status and the text of a non-JSON body', () => {
    const error = errorFromResponse(502, '<html><body><h1>Bad gateway</h1></body></html>', 'jobs');
    assert.equal(error.message, 'The server answered 502 to jobs: Bad gateway.');
    assert.equal(
      errorFromResponse(500, '', 'jobs').message,
      'The server answered 500 to jobs with no message.'
    );
  });
});

describe('describeError', () => {
  it('gives a line for anything thrown', () => {
    assert.equal(describeError(new Error('boom')), 'boom');
    assert.equal(describeError('plain'), 'plain');
    assert.equal(describeError(42), '42');
  });
});
