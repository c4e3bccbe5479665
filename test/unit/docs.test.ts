// The documentation stands alone: the README stays short, every relative link and every repository
// path the docs name exists, and no link leaves the repository except to a public (http/https) page.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README_MAX_LINES = 200;
/** Top-level folders whose paths the docs name in `code` and that must therefore exist. */
const REPO_PATH = /^(?:lib|local|functions|cli|bin|bench|config|scripts|test|docs|\.ci)\/[\w./-]*$/;

/** The Markdown files that make up the documentation. */
function documents(): string[] {
  const docs = fs.readdirSync(path.join(ROOT, 'docs')).filter((name) => name.endsWith('.md'));
  return [path.join(ROOT, 'README.md'), ...docs.map((name) => path.join(ROOT, 'docs', name))];
}

/** The text outside fenced code blocks: a fence holds commands and diagrams, not links. */
function prose(text: string): string {
  let inFence = false;
  return text.split('\n').filter((line) => {
    if (/^\s*(```|~~~)/.test(line)) { inFence = !inFence; return false; }
    return !inFence;
  }).join('\n');
}

/** A message per link or named path in `text` (the file at `file`) that goes nowhere or out of the repository. */
function linkProblems(file: string, text: string, exists: (absolute: string) => boolean): string[] {
  const where = path.relative(ROOT, file);
  const body = prose(text);
  const problems: string[] = [];
  const targets = [
    ...[...body.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
    ...[...body.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)].map((m) => m[1]!),
  ];
  for (const target of targets) {
    if (/^https?:\/\//i.test(target) || target.startsWith('#')) continue;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) { problems.push(`${where}: link '${target}' is not a public http(s) page`); continue; }
    const resolved = path.resolve(path.dirname(file), decodeURIComponent(target.split('#')[0]!));
    const inRepo = path.relative(ROOT, resolved);
    if (inRepo.startsWith('..') || path.isAbsolute(inRepo)) problems.push(`${where}: link '${target}' leaves the repository`);
    else if (!exists(resolved)) problems.push(`${where}: link '${target}' points to a missing file`);
  }
  for (const m of body.matchAll(/`([^`\n]+)`/g)) {
    const named = m[1]!;
    if (REPO_PATH.test(named) && !exists(path.join(ROOT, named))) problems.push(`${where}: path '${named}' does not exist`);
  }
  return problems;
}

/** A message when the README is longer than it may be. */
function lengthProblem(text: string): string[] {
  const lines = text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
  return lines > README_MAX_LINES ? [`README.md has ${lines} lines, more than ${README_MAX_LINES}: move the detail into docs/`] : [];
}

describe('Docs: a README that stands alone', () => {
  it('Should keep README.md within 200 lines', () => {
    expect(lengthProblem(fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8'))).toStrictEqual([]);
  });

  it('Should find every relative link and every named path of README.md and docs/ in the repository', () => {
    const problems = documents().flatMap((file) => linkProblems(file, fs.readFileSync(file, 'utf8'), fs.existsSync));
    expect(problems).toStrictEqual([]);
  });

  it('Should report a README over 200 lines', () => {
    expect(lengthProblem('line\n'.repeat(200))).toStrictEqual([]);
    expect(lengthProblem('line\n'.repeat(201))).toStrictEqual(['README.md has 201 lines, more than 200: move the detail into docs/']);
  });

  it('Should report a link out of the repository, a missing file, a foreign scheme and a stale path', () => {
    const readme = path.join(ROOT, 'README.md');
    const page = path.join(ROOT, 'docs', 'example.md');
    const text = [
      'The protocol: [summary](../shared/PROTOCOL.md), [here](docs/protocol.md#the-put), [public](https://learn.microsoft.com/x).',
      'See [missing](docs/nope.md), [a section](#how-it-works), [mail](mailto:dev@example.com), `lib/upload/classify.ts`, `lib/protocol/classify.ts`.',
      '[ref]: ../../etc/passwd',
      '```sh',
      'cat ../shared/PROTOCOL.md   # [not a link](../outside.md) inside a fence',
      '```',
    ].join('\n');
    expect(linkProblems(readme, text, fs.existsSync)).toStrictEqual([
      "README.md: link '../shared/PROTOCOL.md' leaves the repository",
      "README.md: link 'docs/nope.md' points to a missing file",
      "README.md: link 'mailto:dev@example.com' is not a public http(s) page",
      "README.md: link '../../etc/passwd' leaves the repository",
      "README.md: path 'lib/upload/classify.ts' does not exist",
    ]);
    // From docs/, '../README.md' stays inside the repository; '../../x.md' leaves it.
    expect(linkProblems(page, '[up](../README.md) [out](../../x.md) [peer](protocol.md)', fs.existsSync)).toStrictEqual([
      "docs/example.md: link '../../x.md' leaves the repository",
    ]);
  });
});
