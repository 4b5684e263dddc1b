/**
 * Images that are pulled first: what the Image field is recognised as, the POST images/pulls
 * body the form sends, and how a pull's progress reads.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptyForm, IRegisterForm } from '../src/kernels/form';
import {
  buildPullRequest,
  formatBytes,
  ITrans,
  needsPull,
  pullProgress,
  recognizeSource,
  sourceDisplayName
} from '../src/kernels/pulls';
import type { IPullOperation } from '../src/types';

/** `TranslationBundle.__` without translations: `%1`, `%2` replaced by the arguments. */
const trans: ITrans = {
  __: (msgid: string, ...args: unknown[]) =>
    msgid.replace(/%(\d)/g, (_, n: string) => String(args[Number(n) - 1]))
};

function form(changes: Partial<IRegisterForm>): IRegisterForm {
  return { ...emptyForm('charliecloud'), ...changes };
}

function op(changes: Partial<IPullOperation>): IPullOperation {
  return {
    id: 'abc',
    source: 'docker://reg.example.org/team/tool:1.2',
    runtime: 'charliecloud',
    state: 'running',
    phase: null,
    done: 0,
    total: 0,
    error: null,
    image_path: null,
    digest: null,
    kernel: null,
    ...changes
  };
}

describe('recognizeSource', () => {
  const cases: [string, string, string][] = [
    ['', 'empty', ''],
    ['   ', 'empty', ''],
    ['/shared/images/pytorch.sif', 'image', 'path'],
    ['/shared/images/py-ipykernel/', 'image', 'path'],
    ['docker://127.0.0.1:5000/jck/kernel:1', 'registry', 'docker'],
    [' oras://ghcr.io/team/tool.sif:2 ', 'registry', 'oras'],
    ['docker-archive:images/tool.tar', 'archive', 'docker-archive'],
    ['oci:./layout:1.2', 'archive', 'oci'],
    ['oci-archive:/data/tool-oci.tar:1.2', 'archive', 'oci-archive'],
    ['images/tool.tar', 'archive', 'tarball'],
    ['/data/TOOL.TAR', 'archive', 'tarball'],
    ['/images/tool.tar.gz', 'image', 'path'], // gzipped: not a docker save tarball
    ['library://sylabs/default/alpine', 'unsupported', 'library'],
    ['shub://x/y', 'unsupported', 'shub'],
    ['docker-daemon:tool:1', 'unsupported', 'docker-daemon']
  ];
  for (const [text, kind, scheme] of cases) {
    it(`${JSON.stringify(text)} is ${kind} (${scheme || 'nothing'})`, () => {
      assert.deepEqual(recognizeSource(text), { kind, scheme });
    });
  }

  it('needsPull is true for references and archives only', () => {
    assert.equal(needsPull('docker://x/y:1'), true);
    assert.equal(needsPull('tool.tar'), true);
    assert.equal(needsPull('/x.sif'), false);
    assert.equal(needsPull('library://x/y'), false);
  });
});

describe('sourceDisplayName', () => {
  it('takes the last part of a reference, tag kept, transport and digest dropped', () => {
    assert.equal(
      sourceDisplayName('docker://reg.example.org/team/tool:1.2'),
      'tool:1.2 (container)'
    );
    assert.equal(
      sourceDisplayName(`docker://reg/tool@sha256:${'a'.repeat(64)}`),
      'tool (container)'
    );
    assert.equal(sourceDisplayName('docker-archive:/data/pytorch.tar'), 'pytorch (container)');
    assert.equal(sourceDisplayName('images/tool.tar'), 'tool (container)');
  });
});

describe('buildPullRequest', () => {
  it('pulls for the form runtime and installs with the other settings, probing first', () => {
    const result = buildPullRequest(
      form({
        image: ' docker://127.0.0.1:5000/jck/kernel:1 ',
        gpu: 'none',
        binds: '/scratch',
        env: 'A=1'
      })
    );
    assert.ok(result.ok);
    assert.deepEqual(result.request, {
      source: 'docker://127.0.0.1:5000/jck/kernel:1',
      runtime: 'charliecloud',
      install: {
        display_name: 'kernel:1 (container)',
        spec: { gpu: 'none', binds: ['/scratch'], env: { A: '1' } },
        probe: true
      }
    });
  });

  it('keeps a given display name', () => {
    const result = buildPullRequest(form({ image: 'tool.tar', displayName: ' Tool ' }));
    assert.ok(result.ok && result.request.install?.display_name === 'Tool');
  });

  it('refuses a runtime images cannot be pulled for, listing the ones they can', () => {
    const result = buildPullRequest(form({ image: 'docker://x/y:1', runtime: 'shifter' }));
    assert.equal(result.ok, false);
    assert.deepEqual(result.ok ? [] : result.errors, [
      'Runtime: images are pulled for charliecloud, podman, apptainer, singularity only, ' +
        'not shifter; choose one of them.'
    ]);
  });

  it('asks for apptainer or singularity for an oras:// image', () => {
    const result = buildPullRequest(form({ image: 'oras://x/y:1', runtime: 'podman' }));
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.errors[0], /oras:\/\/ image is a SIF.*apptainer/);
    assert.ok(buildPullRequest(form({ image: 'oras://x/y:1', runtime: 'apptainer' })).ok);
  });

  it('refuses a ready image path and bad env lines before any request', () => {
    const result = buildPullRequest(form({ image: '/x.sif', env: 'bad' }));
    assert.equal(result.ok, false);
    assert.match(result.ok ? '' : result.errors[0], /Environment line 1/);
    const path = buildPullRequest(form({ image: '/x.sif' }));
    assert.deepEqual(path.ok ? [] : path.errors, [
      'Image: "/x.sif" is not an image reference or an archive.'
    ]);
  });
});

describe('formatBytes', () => {
  it('uses binary units with one decimal', () => {
    assert.equal(formatBytes(0), '0 B');
    assert.equal(formatBytes(1023), '1023 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(85.3 * 1024 * 1024), '85.3 MiB');
    assert.equal(formatBytes(3 * 1024 ** 3), '3.0 GiB');
  });
});

describe('pullProgress', () => {
  it('shows bytes and a fraction when the total is known', () => {
    const mib = 1024 * 1024;
    assert.deepEqual(
      pullProgress(op({ phase: 'download', done: 12 * mib, total: 48 * mib }), trans),
      {
        phase: 'Downloading',
        bytes: '12.0 MiB of 48.0 MiB',
        fraction: 0.25
      }
    );
  });

  it('is indeterminate without a total, showing the bytes done (not Podman blobs)', () => {
    assert.deepEqual(pullProgress(op({ phase: 'unpack', done: 2048 }), trans), {
      phase: 'Unpacking layers',
      bytes: '2.0 KiB',
      fraction: null
    });
    assert.deepEqual(pullProgress(op({ phase: 'load', done: 3, runtime: 'podman' }), trans), {
      phase: 'Loading into Podman',
      bytes: null,
      fraction: null
    });
    assert.equal(pullProgress(op({}), trans).phase, 'Waiting to start');
    assert.equal(pullProgress(op({ phase: 'probe' }), trans).phase, 'Probing the image');
  });

  it('never passes 100 %', () => {
    assert.equal(pullProgress(op({ phase: 'download', done: 12, total: 10 }), trans).fraction, 1);
  });

  it('names the registered kernel when done, and the state when it failed', () => {
    const done = op({ state: 'succeeded', kernel: 'tool-k', image_path: '/s/tool' });
    assert.deepEqual(pullProgress(done, trans), {
      phase: 'Done: registered kernel tool-k',
      bytes: null,
      fraction: 1
    });
    assert.equal(
      pullProgress(op({ state: 'succeeded', image_path: '/s/t' }), trans).phase,
      'Done: /s/t'
    );
    const failed = pullProgress(op({ state: 'failed', error: 'no such image' }), trans);
    assert.deepEqual(failed, { phase: 'Failed', bytes: null, fraction: 0 });
    assert.equal(pullProgress(op({ state: 'cancelled' }), trans).phase, 'Cancelled');
  });
});
