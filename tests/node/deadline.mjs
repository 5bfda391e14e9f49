// A script's bound: if it has not finished within `ms`, it prints what it saw so far with an
// error (the test then fails on it) and exits. -> the timer, to clear when done.
export function printOnTimeout(out, ms) {
  return setTimeout(() => {
    console.log(JSON.stringify({ ...out, error: "did not finish in time" }));
    process.exit(0);
  }, ms);
}
