// The direct uploader in a process of its own, as a team's uploader would run: uploads the file
// it is given, reports the elapsed milliseconds and its CPU time, and exits.
import { directUpload } from './direct-upload.ts';

const input = JSON.parse(process.argv[2]!) as Parameters<typeof directUpload>[0];
// CPU of the upload alone, as the fan-out's is counted from its first block: not Node's startup.
const before = process.cpuUsage();
const ms = await directUpload(input);
const cpu = process.cpuUsage(before);
process.send!({ ms, cpuMs: (cpu.user + cpu.system) / 1000 }, () => process.exit(0));
