// `npm run fault`: 20 SIGKILLs at random points of a checkpointed `softprompt train` run (some during the final save),
// each followed by --resume; the final adapter must equal an uninterrupted run's byte for byte, and no partial file may
// ever be visible under its final name (test/fault/harness.ts). Usage: node dist/bench/fault.js [kills] [seed]
import { faultTest } from '../test/fault/harness.js';

const kills = Number(process.argv[2] ?? 20);
const seed = Number(process.argv[3] ?? 1);
const report = await faultTest(kills, seed);
console.log(`${report.kills} kills (${report.finalSaveKills} aimed at the end of the run, the final save), ${report.resumes} resumes, ${report.seconds.toFixed(1)} s: final adapter byte-identical, no partial file visible, no temp file left`);
