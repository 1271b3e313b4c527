-- The command line. core/main.c calls main(argv) and exits with what it
-- returns. Each subcommand lives in lua/sw/cmd/<name>.lua and exports
-- run(args, opts) -> exit status, so commands load only what they use and
-- `scriptworker --version` stays fast.
local M = {}

M.VERSION = "0.1.0"

local COMMANDS = {
  ["lua"] = "sw.cmd.lua",
  ["verify-ed25519-signature"] = "sw.cmd.verify",
  ["keygen"] = "sw.cmd.keygen",
  ["run-task"] = "sw.cmd.run_task",
  ["policy"] = "sw.cmd.policy",
  ["verify-cot"] = "sw.cmd.verify_cot",
  ["create-test-workdir"] = "sw.cmd.create_test_workdir",
}

local USAGE = [==[
usage: scriptworker [--policy FILE] [CONFIG]
       scriptworker run-task TASK_JSON [CONFIG]
       scriptworker policy check [--policy FILE] [CONFIG]
       scriptworker verify-cot --task-type TYPE TASKID [--policy FILE] [CONFIG]
       scriptworker create-test-workdir [--overwrite] TASKID [CONFIG]
       scriptworker lua [--no-task] [-e CODE] [FILE [ARGS...]]
       scriptworker verify-ed25519-signature FILE SIGFILE [--pubkey KEY]
       scriptworker keygen [--force] PRIVATE_PATH PUBLIC_PATH
       scriptworker --version | --help

Without a command, runs the worker with CONFIG (default ./scriptworker.yaml):
claim a task, verify its chain of trust (when verify_chain_of_trust is
set), run task_script, upload the artifacts and report the result, one
task at a time. `COMMAND --help` describes each command.

Options:
  --policy FILE   the instance policy; its folder is the policy set (task
                  types, worker implementations and their keys, products).
                  Without it: the config's policy_dir, else the installed
                  policies
  --version       print the version and exit
  --help          print this help and exit

Signals (the worker):
  SIGHUP          reload the policy set and re-read the ed25519 private key;
                  on any error the old ones stay in force (logged). Edits
                  under the policy folder are reloaded without a signal
  SIGTERM, SIGINT stop the running script, upload, report worker-shutdown;
                  while idle, exit at once
  SIGUSR1         finish the current task, then exit
]==]

local function eprintf(fmt, ...)
  io.stderr:write(string.format(fmt, ...))
end
M.eprintf = eprintf

local function basename(p)
  return (p or ""):match("([^/]*)$")
end

function M.main(argv)
  local args = {}
  for i = 1, #argv do
    args[i] = argv[i]
  end
  local cmd
  if basename(argv[0]) == "verify_ed25519_signature" then
    cmd = "verify-ed25519-signature"
  elseif basename(argv[0]) == "verify_cot" then
    cmd = "verify-cot"
  elseif COMMANDS[args[1]] then
    cmd = table.remove(args, 1)
  elseif args[1] == "--version" or args[1] == "-V" then
    io.stdout:write("scriptworker ", M.VERSION, "\n")
    return 0
  elseif args[1] == "--help" or args[1] == "-h" then
    io.stdout:write(USAGE)
    return 0
  else
    cmd = "worker"
  end
  local modname = COMMANDS[cmd] or "sw.cmd.worker"
  local ok, mod = pcall(require, modname)
  if not ok then
    eprintf("scriptworker: %s: %s\n", cmd, tostring(mod))
    return 2
  end
  return mod.run(args, { usage = USAGE, prog = "scriptworker" })
end

return M
