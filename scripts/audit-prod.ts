// `npm run audit:prod`: fails on a high or critical advisory in the production dependencies.
// The advisory service is not always reachable from CI; then it says so and passes, since an
// unanswered question is not a finding.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
let output: string;
try {
  output = (await run('npm', ['audit', '--omit=dev', '--json'], { maxBuffer: 32 * 1024 * 1024, timeout: 120_000 })).stdout;
} catch (error) {
  // npm audit exits 1 when it finds advisories, and when it cannot ask.
  output = (error as { stdout?: string }).stdout ?? '';
}
let report: { error?: { summary?: string }; message?: string; metadata?: { vulnerabilities?: Record<string, number> } };
try {
  report = JSON.parse(output);
} catch {
  report = { error: { summary: 'npm audit printed no JSON' } };
}
const counts = report.metadata?.vulnerabilities;
if (report.error !== undefined || counts === undefined) {
  const why = report.error?.summary || report.message || 'no report';
  console.log(`audit:prod: the advisory service did not answer (${why}); not checked this run`);
} else {
  const serious = (counts.high ?? 0) + (counts.critical ?? 0);
  console.log(`audit:prod: production dependencies: ${JSON.stringify(counts)}`);
  if (serious > 0) {
    console.error(`audit:prod: ${serious} high or critical advisories; run \`npm audit --omit=dev\` for details`);
    process.exit(1);
  }
}
