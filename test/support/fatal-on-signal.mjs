// Preloaded (`node --import`) into a worker process by a test: SIGUSR2 raises an uncaught exception
// in that process, the way a bug in a handler's callback would, while its jobs are in hand.
process.on('SIGUSR2', () => {
  setImmediate(() => {
    throw new Error('injected fatal error (SIGUSR2)');
  });
});
