// CPython 3.14, the Lambda runtime's exact Python version, on this machine: Pyodide (CPython built to
// WebAssembly, the npm package pinned in package.json) run by Node. Offline and the same on every host
// CPU, so one interpreter compiles the bytecode of both the x86_64 and the arm64 asset.
//
//   node cdk_app/python314.mjs [--mount DIR]... [--env NAME=VALUE]... (-m MODULE | -c CODE | SCRIPT) [ARG]...
//
// Each --mount makes a host directory visible inside at the same absolute path (reads and writes go to
// the host). Exits with Python's exit status; an uncaught exception is printed to stderr (status 1).
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(import.meta.url);

function usage(message) {
  process.stderr.write(`python314.mjs: ${message}\n`);
  process.exit(2);
}

const mounts = [];
const env = {};
const argv = process.argv.slice(2);
while (argv.length && argv[0].startsWith("--")) {
  const option = argv.shift();
  const value = argv.shift();
  if (value === undefined) usage(`${option} needs a value`);
  if (option === "--mount") mounts.push(path.resolve(value));
  else if (option === "--env") {
    const eq = value.indexOf("=");
    if (eq < 1) usage(`--env takes NAME=VALUE, got ${value}`);
    env[value.slice(0, eq)] = value.slice(eq + 1);
  } else usage(`unknown option ${option}`);
}
if (!argv.length) usage("give -m MODULE, -c CODE or SCRIPT");

let pyodideModule;
try {
  pyodideModule = require.resolve("pyodide/pyodide.js");
} catch {
  process.stderr.write("python314.mjs: the npm package pyodide (CPython 3.14) is not installed: run `make setup`\n");
  process.exit(3);
}
const { loadPyodide } = require(pyodideModule);
const pyodide = await loadPyodide({
  env: { HOME: "/home/pyodide", ...env },
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});
for (const dir of mounts) {
  pyodide.FS.mkdirTree(dir);
  pyodide.mountNodeFS(dir, dir);
}
pyodide.globals.set("_argv", pyodide.toPy(argv));
const status = pyodide.runPython(`
def _main(argv):
    import runpy, sys, traceback
    mode = argv[0]
    if mode in ("-m", "-c") and len(argv) < 2:
        print(f"python314.mjs: {mode} needs an argument", file=sys.stderr)
        return 2
    try:
        if mode == "-m":
            sys.argv = [argv[1], *argv[2:]]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        elif mode == "-c":
            sys.argv = ["-c", *argv[2:]]
            exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
        else:
            sys.argv = list(argv)
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exit:
        if exit.code is None or isinstance(exit.code, int):
            return exit.code or 0
        print(exit.code, file=sys.stderr)
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0
_main(list(_argv))
`);
process.exit(status);
