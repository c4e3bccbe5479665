// The direct uploader in a process of its own, as a team's uploader would run: uploads the file
// it is given, reports the elapsed milliseconds and its CPU time, and exits.
import { directUpload } from './direct-upload.ts';

const ms = await directUpload(JSON.parse(process.argv[2]!) as Parameters<typeof directUpload>[0]);
const cpu = process.cpuUsage();
process.send!({ ms, cpuMs: (cpu.user + cpu.system) / 1000 }, () => process.exit(0));
