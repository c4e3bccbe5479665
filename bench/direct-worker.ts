// The direct uploader in a process of its own, as a team's uploader would run: uploads the file
// it is given, reports the elapsed milliseconds and exits.
import { directUpload } from './direct-upload.ts';

const ms = await directUpload(JSON.parse(process.argv[2]!) as Parameters<typeof directUpload>[0]);
process.send!({ ms }, () => process.exit(0));
