/**
 * The "Register image" form: from what the user typed to POST kernels / images/probe, and how
 * kernels and probes are summarised.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildRegisterRequest,
  buildSlurm,
  buildSpec,
  defaultDisplayName,
  describeProbe,
  emptyForm,
  imageStatus,
  IRegisterForm,
  parseEnv,
  shortDigest,
  slurmSummary,
  splitList
} from '../src/kernels/form';
import type { IKernel, IProbe } from '../src/types';

function form(changes: Partial<IRegisterForm>): IRegisterForm {
  return { ...emptyForm('apptainer'), ...changes };
}

const PROBE: IProbe = {
  ok: true,
  message: '',
  python_version: '3.11.2',
  ipykernel_version: '6.17.0',
  platform: 'Linux-6.1-x86_64',
  packages: { torch: '2.7.0', numpy: '1.26.4', ipykernel: '6.17.0' },
  cached: false
};

describe('buildSpec', () => {
  it('splits binds, modules and env into the spec', () => {
    const result = buildSpec(
      form({
        image: ' /shared/images/pytorch.sif ',
        gpu: 'nvidia',
        binds: '/scratch\n/data:/data:ro, /home/me/x:/x',
        modules: 'cuda/12.4  openmpi, hdf5',
        env: 'OMP_NUM_THREADS=4\n# a comment\n\nTOKEN = a=b '
      })
    );
    assert.ok(result.ok);
    assert.deepEqual(result.spec, {
      image: '/shared/images/pytorch.sif',
      runtime: 'apptainer',
      gpu: 'nvidia',
      binds: ['/scratch', '/data:/data:ro', '/home/me/x:/x'],
      modules: ['cuda/12.4', 'openmpi', 'hdf5'],
      env: { OMP_NUM_THREADS: '4', TOKEN: 'a=b' }
    });
  });

  it('leaves empty lists out', () => {
    const result = buildSpec(form({ image: '/img', runtime: 'charliecloud' }));
    assert.ok(result.ok);
    assert.deepEqual(result.spec, { image: '/img', runtime: 'charliecloud', gpu: 'auto' });
  });

  it('requires an image and well-formed env lines', () => {
    const result = buildSpec(form({ image: '  ', env: 'GOOD=1\nno equals sign\n1BAD=2' }));
    assert.equal(result.ok, false);
    const errors = result.ok ? [] : result.errors;
    assert.equal(errors.length, 3);
    assert.match(errors[0], /Image/);
    assert.match(errors[1], /line 2: "no equals sign"/);
    assert.match(errors[2], /line 3: "1BAD=2"/);
  });
});

describe('buildRegisterRequest', () => {
  it('derives the display name from the image when left empty and asks for a probe', () => {
    const result = buildRegisterRequest(form({ image: '/shared/images/pytorch-2.7.sif' }));
    assert.ok(result.ok);
    assert.deepEqual(result.request, {
      display_name: 'pytorch-2.7 (container)',
      spec: { image: '/shared/images/pytorch-2.7.sif', runtime: 'apptainer', gpu: 'auto' },
      probe: true
    });
  });

  it('keeps a given display name', () => {
    const result = buildRegisterRequest(form({ image: '/i.sif', displayName: ' PyTorch 2.7 ' }));
    assert.ok(result.ok && result.request.display_name === 'PyTorch 2.7');
  });

  it('summarises digests and node settings for the panel', () => {
    assert.equal(shortDigest('sha256:' + 'ab'.repeat(32)), 'sha256:abababababab');
    assert.equal(
      slurmSummary({ partition: 'gpu', time: '2:00:00', gres: 'gpu:1' }),
      'gpu, 2:00:00, gpu:1'
    );
    assert.equal(slurmSummary({}), 'site defaults');
  });

  it('sends a slurm block only for a compute-node kernel, with the fields given', () => {
    const node = { ...emptyForm('apptainer').node, partition: 'gpu', time: ' 2:00:00 ', gres: '' };
    const off = buildRegisterRequest(form({ image: '/i.sif', node }));
    assert.ok(off.ok && !('slurm' in off.request));
    const on = buildRegisterRequest(form({ image: '/i.sif', node: { ...node, enabled: true } }));
    assert.ok(on.ok);
    assert.deepEqual(on.request.slurm, { partition: 'gpu', time: '2:00:00' });
    assert.deepEqual(buildSlurm({ ...node, enabled: true, partition: '', time: '' }), {});
  });
});

describe('helpers', () => {
  it('splitList drops blanks', () => {
    assert.deepEqual(splitList(' a ,\n\n b,'), ['a', 'b']);
  });

  it('parseEnv keeps everything after the first =', () => {
    assert.deepEqual(parseEnv('URL=http://x/?a=b').env, { URL: 'http://x/?a=b' });
  });

  it('defaultDisplayName handles image directories and trailing slashes', () => {
    assert.equal(defaultDisplayName('/images/py-ipykernel/'), 'py-ipykernel (container)');
    assert.equal(defaultDisplayName(''), '');
  });
});

describe('describeProbe / imageStatus', () => {
  it('lists Python, ipykernel and the packages found', () => {
    assert.equal(
      describeProbe(PROBE),
      'Python 3.11.2 · ipykernel 6.17.0 · numpy 1.26.4 · torch 2.7.0'
    );
  });

  it('says why an image is unusable', () => {
    const probe = { ...PROBE, ok: false, message: 'ipykernel is not installed in the image' };
    assert.equal(describeProbe(probe), 'Not usable: ipykernel is not installed in the image');
  });

  it('tells missing, unprobed, usable and unusable images apart', () => {
    const kernel: IKernel = {
      name: 'k',
      display_name: 'K',
      scope: 'user',
      editable: true,
      managed: false,
      resource_dir: '/r',
      spec: { image: '/gone.sif' },
      image_present: false,
      probe: null
    };
    assert.deepEqual(imageStatus(kernel), { state: 'missing', text: 'Image not found: /gone.sif' });
    assert.equal(imageStatus({ ...kernel, image_present: true }).state, 'unknown');
    assert.equal(imageStatus({ ...kernel, image_present: true, probe: PROBE }).state, 'ok');
    const bad = { ...PROBE, ok: false, message: 'no python3' };
    assert.equal(imageStatus({ ...kernel, image_present: true, probe: bad }).state, 'error');
  });
});
