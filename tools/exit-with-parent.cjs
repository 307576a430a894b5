// Preloaded into the emulator's Node process: when the process that started it goes away (its end of our stdin
// pipe closes), exit too, so a crashed test run or app never leaves an emulator behind.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
