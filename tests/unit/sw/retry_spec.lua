-- sw.retry: the one retry loop of the Queue client and the chain of
-- trust's remote inputs.
local retry = require("sw.retry")
local support = require("support")

describe("sw.retry", function()
  local function run(attempts, answers)
    local tries, waits = {}, {}
    local r = table.pack(retry.run({
      attempts = attempts,
      delay = function(n)
        return n / 1000
      end,
      on_retry = function(n, err, delay)
        waits[#waits + 1] = string.format("%d:%s:%g", n, err, delay)
      end,
    }, function(n)
      tries[#tries + 1] = n
      return table.unpack(answers[n], 1, answers[n].n or 4)
    end))
    return r, tries, waits
  end

  it("returns the first success with all its values", support.async(function()
    local r, tries, waits = run(5, { { nil, "busy", "HTTP500", true }, { "body", 2, 3, n = 3 } })
    assert.are.same({ "body", 2, 3, n = 3 }, r)
    assert.are.same({ 1, 2 }, tries)
    assert.are.same({ "1:busy:0.001" }, waits)
  end))

  it("stops at once on a failure no retry can cure", support.async(function()
    local r, tries, waits = run(5, { { nil, "gone", "HTTP404", false } })
    assert.are.same({ nil, "gone", "HTTP404", n = 3 }, r)
    assert.are.same({ 1 }, tries)
    assert.are.same({}, waits)
  end))

  it("gives the last failure once the attempts are spent, without sleeping after it", support.async(function()
    local r, tries, waits = run(3, {
      { nil, "a", "timeout", true }, { nil, "b", "connect", true }, { nil, "c", "closed", true },
    })
    assert.are.same({ nil, "c", "closed", n = 3 }, r)
    assert.are.same({ 1, 2, 3 }, tries)
    assert.are.same({ "1:a:0.001", "2:b:0.002" }, waits)
  end))

  it("tries once when attempts is below one", support.async(function()
    local _, tries = run(0, { { nil, "x", "timeout", true } })
    assert.are.same({ 1 }, tries)
  end))
end)
