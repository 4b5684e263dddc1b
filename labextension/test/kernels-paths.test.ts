/**
 * The kernels panel and the server's rules: the image picker's absolute path from the server's
 * root, and "Probe" offered only where `POST images/probe` will not be refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serverPath } from '../src/kernels/form';

describe('serverPath (the file picker)', () => {
  it('joins a picked path to an absolute server root', () => {
    assert.deepEqual(serverPath('images/torch.sif', '/srv/lab'), {
      ok: true,
      path: '/srv/lab/images/torch.sif'
    });
    assert.deepEqual(serverPath('images/torch.sif', '/srv/lab/'), {
      ok: true,
      path: '/srv/lab/images/torch.sif'
    });
  });

  it('uses / when the server runs at the file system root or reports no root', () => {
    assert.deepEqual(serverPath('shared/x.sif', '/'), { ok: true, path: '/shared/x.sif' });
    assert.deepEqual(serverPath('shared/x.sif', ''), { ok: true, path: '/shared/x.sif' });
  });

  it('normalizes . and .. and doubled slashes, never above /', () => {
    assert.deepEqual(serverPath('./a//b/../c.sif', '/srv/lab'), {
      ok: true,
      path: '/srv/lab/a/c.sif'
    });
    assert.deepEqual(serverPath('../../../../x.sif', '/srv/lab'), { ok: true, path: '/x.sif' });
  });

  it('picks the root itself (a directory image at the root)', () => {
    assert.deepEqual(serverPath('', '/scratch/image'), { ok: true, path: '/scratch/image' });
  });

  it('expands a root that jupyter_server collapsed to ~ with the server’s home', () => {
    assert.deepEqual(serverPath('img/torch.sif', '~/work', '/home/ada'), {
      ok: true,
      path: '/home/ada/work/img/torch.sif'
    });
    assert.deepEqual(serverPath('torch.sif', '~', '/home/ada/'), {
      ok: true,
      path: '/home/ada/torch.sif'
    });
  });

  it('never builds /~/… from a ~ root: it asks for the absolute path instead', () => {
    assert.deepEqual(serverPath('img/torch.sif', '~/work'), {
      ok: false,
      error:
        "The server's root is ~/work, inside a home directory whose absolute path the server " +
        "does not report, so the picked file's path (img/torch.sif) cannot be made absolute " +
        'here: type the image’s absolute path instead.'
    });
    assert.equal(serverPath('x.sif', '~', 'relative/home').ok, false);
  });

  it('refuses a root that is not a POSIX path', () => {
    assert.deepEqual(serverPath('x.sif', 'C:/Users/ada'), {
      ok: false,
      error:
        "The server's root C:/Users/ada is not an absolute POSIX path, so the picked file's " +
        'path (x.sif) cannot be made absolute: type the image’s absolute path instead.'
    });
  });
});
