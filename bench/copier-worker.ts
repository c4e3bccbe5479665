// The copier in a process of its own, like the direct uploader and each fan-out environment:
// copies the clip it is given, reports the elapsed milliseconds and its CPU time, and exits.
import { prepareCopy, type CopyInput } from './copier.ts';

const copy = prepareCopy(JSON.parse(process.argv[2]!) as CopyInput);
// CPU of the copy alone, as the fan-out's is counted once its handler is built: not Node's startup.
const before = process.cpuUsage();
const ms = await copy();
const cpu = process.cpuUsage(before);
process.send!({ ms, cpuMs: (cpu.user + cpu.system) / 1000 }, () => process.exit(0));
