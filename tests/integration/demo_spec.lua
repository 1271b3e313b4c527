-- `make demo` end to end: examples/demo.lua run by the real binary, as the
-- Makefile runs it. The valid chain must be verified and its artifacts
-- signed, the tampered one refused before its script starts; and the demo
-- must fail (exit non-zero, "NOT" verdicts) when the worker does not check
-- chains of trust at all, so that a passing demo means something.
local fs = require("sw.fs")
local support = require("support")

local BIN = os.getenv("SW_BIN") or (support.root .. "/build/scriptworker")
-- The demo takes about a second here; the README promises under a minute.
local TIMEOUT = 90

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Runs the demo from the repository root with `worker_bin` as the worker;
-- returns exit code, stdout, stderr, seconds.
local function run_demo(worker_bin)
  local outdir = support.tmpdir()
  local out, err = outdir .. "/stdout", outdir .. "/stderr"
  local t0 = os.time()
  local _, _, code = os.execute(string.format("cd %s && PWD=%s SW_BIN=%s timeout %d %s lua examples/demo.lua >%s 2>%s",
    q(support.root), q(support.root), q(worker_bin), TIMEOUT, q(BIN), q(out), q(err)))
  local seconds = os.time() - t0
  local o, e = support.read(out), support.read(err)
  fs.rmtree(outdir)
  return code, o, e, seconds
end

-- The taskId of the link `key` in the listing of section `n` of the output.
local function listed_id(out, n, key)
  local part = out:match("\n== " .. n .. "%.(.-)\n== ")
  return part and part:match("\n" .. key:gsub("%-", "%%-") .. "%s+%S+%s+%S+%s+([%w_-]+)")
end

describe("make demo", function()
  it("verifies the valid chain, signs its artifacts and rejects the tampered chain", function()
    local code, out, err, seconds = run_demo(BIN)
    assert.equal("", err)
    assert.equal(0, code)
    assert.is_true(seconds < 60, "the demo took " .. seconds .. " s")

    -- the chain: both worker implementations, each link's signature checked
    for _, key in ipairs({ "decision", "docker-image", "build", "generic-build" }) do
      assert.is_not_nil(listed_id(out, 1, key), "no " .. key .. " link in the chain listing")
    end
    assert.matches("signature verified with docker-worker key", out, 1, true)
    assert.matches("signature verified with generic-worker key", out, 1, true)
    assert.matches("Verifying signing:build:docker%-image [%w_-]+ as a docker%-image task", out)
    assert.matches("\n  INFO %- Good%. seconds=", out)
    -- what the script signed is what the builds produced, and the worker
    -- signed its own chain-of-trust artifact
    local _, valid_sigs = out:gsub("signature VALID, sha256 matches", "")
    assert.equal(2, valid_sigs)
    assert.matches("signature VALID with the worker's key", out, 1, true)
    assert.matches("\n  demo%-signing: done\n", out)

    -- the tampered build is named in the reason, the script never ran
    local tampered = assert(listed_id(out, 3, "build"), "no build link in the tampered chain's listing")
    assert.matches("the script never ran", out, 1, true)
    assert.matches("public/logs/live_backing.log is a link to public/logs/chain_of_trust.log", out, 1, true)

    local verdict = out:match("\n(VERDICT valid chain: [^\n]*)")
    assert.equal("VERDICT valid chain: VERIFIED, 2 artifacts signed, task completed", verdict)
    verdict = out:match("\n(VERDICT tampered chain: [^\n]*)\n$")
    assert.is_not_nil(verdict, "no tampered-chain verdict at the end:\n" .. out:sub(-2000))
    local expected = "VERDICT tampered chain: REJECTED (exception/malformed-payload): signing:build " .. tampered
      .. ": public/build/target.tar.gz: BAD HASH: sha256 is "
    assert.equal(expected, verdict:sub(1, #expected))
  end)

  it("fails when the worker runs scripts without verifying the chain", function()
    -- A worker whose config has verify_chain_of_trust turned off: the demo
    -- must notice, not print a verdict it did not see.
    local dir = support.tmpdir()
    local wrapper = dir .. "/scriptworker"
    support.write(wrapper, table.concat({
      "#!/bin/sh",
      'if [ "$1" = "--policy" ]; then',
      "  for config; do :; done",
      [[  sed -i 's/"verify_chain_of_trust": *true/"verify_chain_of_trust":false/' "$config"]],
      "fi",
      "exec " .. q(BIN) .. ' "$@"',
      "",
    }, "\n"))
    assert(fs.chmod(wrapper, tonumber("755", 8)))
    local code, out, err = run_demo(wrapper)
    fs.rmtree(dir)
    assert.equal(1, code)
    assert.matches("demo failed: the demo did not end as expected", err, 1, true)
    assert.matches("\nVERDICT valid chain: NOT VERIFIED %(expected verified%)\n", out)
    assert.matches("\nVERDICT tampered chain: NOT REJECTED %(expected exception/malformed%-payload%)\n$", out)
  end)
end)
