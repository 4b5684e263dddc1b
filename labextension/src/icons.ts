/**
 * The extension's icons (inline SVG, themed through Lab's `jp-icon3` fill class).
 */
import { LabIcon } from '@jupyterlab/ui-components';

const containerSvg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
  <path class="jp-icon3" fill="#616161" d="M12 1.8 2.8 6.6v10.8l9.2 4.8 9.2-4.8V6.6L12 1.8zm0 2.3 6.6 3.4L12 10.9 5.4 7.5 12 4.1zM4.8 9.1l6.2 3.2v7.1l-6.2-3.2V9.1zm8.2 10.3v-7.1l6.2-3.2v7.1L13 19.4z"/>
</svg>`;

const jobsSvg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
  <path class="jp-icon3" fill="#616161" d="M3 4h12v2H3V4zm0 5h12v2H3V9zm0 5h7v2H3v-2zm13.5-2a5.5 5.5 0 1 1 0 11 5.5 5.5 0 0 1 0-11zm-.75 2v3.9l3 1.8.75-1.23-2.25-1.35V14h-1.5z"/>
</svg>`;

const submitSvg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
  <path class="jp-icon3" fill="#616161" d="M4 3h10l6 6v5h-2v-4h-5V5H6v14h7v2H4V3zm14.5 9.5L23 17l-4.5 4.5-1.4-1.4 2.1-2.1H14v-2h5.2l-2.1-2.1 1.4-1.4z"/>
</svg>`;

const nodesSvg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
  <path class="jp-icon3" fill="#616161" d="M3 3h18v6H3V3zm2 2v2h2V5H5zm4 0v2h10V5H9zM3 11h18v6H3v-6zm2 2v2h2v-2H5zm4 0v2h10v-2H9zm2 6h2v2h4v2H7v-2h4v-2z"/>
</svg>`;

export const containerIcon = new LabIcon({
  name: 'jupyter-container-kernels:container',
  svgstr: containerSvg
});

export const jobsIcon = new LabIcon({ name: 'jupyter-container-kernels:jobs', svgstr: jobsSvg });

export const submitIcon = new LabIcon({
  name: 'jupyter-container-kernels:submit',
  svgstr: submitSvg
});

export const nodesIcon = new LabIcon({
  name: 'jupyter-container-kernels:node-kernels',
  svgstr: nodesSvg
});
