/**
 * Generate `src/schema.ts` (the REST shapes) from the server's OpenAPI document.
 *
 * `node scripts/schema.mjs` (jlpm generate:types) writes the file; with `--check`
 * (jlpm check:types) it writes nothing and fails when the file is not what the document
 * generates now, so CI catches a changed openapi.yaml whose types were not regenerated.
 */
import { readFile, writeFile } from 'node:fs/promises';
import process from 'node:process';
import openapiTS, { astToString } from 'openapi-typescript';

const DOCUMENT = new URL('../../jupyter_container_kernels/server/openapi.yaml', import.meta.url);
const TARGET = new URL('../src/schema.ts', import.meta.url);
const BANNER = `/**
 * Generated from jupyter_container_kernels/server/openapi.yaml by \`jlpm generate:types\`
 * (openapi-typescript); do not edit. \`jlpm check:types\` fails when it is out of date.
 */

`;

async function generate() {
  // enumValues: every enum also as a runtime array (e.g. the terminal job states).
  const ast = await openapiTS(DOCUMENT, {
    enumValues: true,
    // A field with a default is optional in requests (the server fills it in).
    defaultNonNullable: false
  });
  return BANNER + astToString(ast);
}

const text = await generate();
if (process.argv.includes('--check')) {
  const current = await readFile(TARGET, 'utf8').catch(() => '');
  if (current !== text) {
    console.error(
      'src/schema.ts is out of date with jupyter_container_kernels/server/openapi.yaml; ' +
        'run `jlpm generate:types` and commit the result.'
    );
    process.exit(1);
  }
  console.log('src/schema.ts matches openapi.yaml.');
} else {
  await writeFile(TARGET, text);
  console.log('Wrote src/schema.ts.');
}
