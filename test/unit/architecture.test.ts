// The import rules of docs/architecture.md, checked on the source: the protocol core stays free of
// AWS and HTTP, no stage reaches into another, and no local-stack code enters a Lambda bundle.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const STAGES = ['split', 'fan-out', 'finalize', 'dead-letter', 'stuck-clips'];

/** Every module specifier a TypeScript source imports, re-exports or loads dynamically. */
function importSpecifiers(source: string): string[] {
  const found = source.matchAll(/(?:^|[\s;])(?:import|export)\b[^'"`;]*?from\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm);
  return [...found].map((m) => (m[1] ?? m[2] ?? m[3])!);
}

/** The lib/ folder a specifier lands in ('protocol', 'fan-out', …), or the package it names. */
function target(fromFile: string, specifier: string): { folder?: string | undefined; outside?: string | undefined; pkg?: string | undefined } {
  if (!specifier.startsWith('.')) return { pkg: specifier };
  const resolved = path.relative(ROOT, path.resolve(path.dirname(fromFile), specifier));
  const [top, folder] = resolved.split(path.sep);
  return top === 'lib' ? { folder } : { outside: top };
}

/** What a file in lib/<folder> may import; a message per broken rule. */
function violations(file: string, source: string): string[] {
  const folder = path.relative(path.join(ROOT, 'lib'), file).split(path.sep)[0]!;
  const problems: string[] = [];
  for (const specifier of importSpecifiers(source)) {
    const to = target(file, specifier);
    const where = `${path.relative(ROOT, file)} imports '${specifier}'`;
    if (to.outside !== undefined) problems.push(`${where}: lib/ may not import from ${to.outside}/`);
    if (folder === 'protocol') {
      const allowed = to.folder === 'protocol' || ['zod/mini', 'zod/v4/locales/en.js', 'node:crypto'].includes(to.pkg ?? '');
      if (!allowed) problems.push(`${where}: the protocol core imports only itself, zod and node:crypto`);
    } else if (to.folder !== undefined && STAGES.includes(to.folder) && to.folder !== folder) {
      problems.push(`${where}: only a stage's own files import from lib/${to.folder}/`);
    }
  }
  return problems;
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
    .map((name) => path.join(dir, name));
}

describe('Architecture: import rules', () => {
  it('Should find no broken rule in lib/', () => {
    const problems = sources(path.join(ROOT, 'lib')).flatMap((file) => violations(file, fs.readFileSync(file, 'utf8')));
    expect(problems).toStrictEqual([]);
  });

  it('Should keep functions/ off the local stack, the CLI, the bench and the tests', () => {
    const problems = sources(path.join(ROOT, 'functions')).flatMap((file) =>
      importSpecifiers(fs.readFileSync(file, 'utf8'))
        .filter((s) => /^\.\.\/(local|cli|bench|test|scripts)\//.test(s))
        .map((s) => `${path.relative(ROOT, file)} imports '${s}'`));
    expect(problems).toStrictEqual([]);
  });

  it('Should report an AWS, HTTP or stage import in the protocol core', () => {
    const file = path.join(ROOT, 'lib', 'protocol', 'example.ts');
    const source = [
      "import { S3Client } from '@aws-sdk/client-s3';",
      "import type { Dispatcher } from 'undici';",
      "import { request } from 'node:http';",
      "import { sendBlock } from '../fan-out/send-block.ts';",
      "const lazy = await import('../aws/queues.ts');",
      "import { planBlocks } from './block-plan.ts';",
      "import * as z from 'zod/mini';",
    ].join('\n');
    expect(violations(file, source)).toStrictEqual([
      "lib/protocol/example.ts imports '@aws-sdk/client-s3': the protocol core imports only itself, zod and node:crypto",
      "lib/protocol/example.ts imports 'undici': the protocol core imports only itself, zod and node:crypto",
      "lib/protocol/example.ts imports 'node:http': the protocol core imports only itself, zod and node:crypto",
      "lib/protocol/example.ts imports '../fan-out/send-block.ts': the protocol core imports only itself, zod and node:crypto",
      "lib/protocol/example.ts imports '../aws/queues.ts': the protocol core imports only itself, zod and node:crypto",
    ]);
  });

  it('Should report a stage importing another stage, and lib/ importing the local stack', () => {
    const file = path.join(ROOT, 'lib', 'dead-letter', 'example.ts');
    const source = "import { sendBlock } from '../fan-out/send-block.ts';\nimport { x } from '../../local/stack.ts';\nimport { y } from './dead-letter.ts';";
    expect(violations(file, source)).toStrictEqual([
      "lib/dead-letter/example.ts imports '../fan-out/send-block.ts': only a stage's own files import from lib/fan-out/",
      "lib/dead-letter/example.ts imports '../../local/stack.ts': lib/ may not import from local/",
    ]);
  });
});
