-- sw.retry: the one retry loop. The Queue client (every Queue call and
-- artifact transfer) and the chain of trust's remote inputs (hg, GitHub,
-- mirrors) retry through it; they differ only in what is worth another
-- attempt and how long to wait.
local sched = require("sw.sched")

local M = {}

-- run(opts, attempt) -> what the successful attempt returned, or the last
-- failure's nil, err, code.
--   attempt(n): one try (n = 1, 2, ...); returns a non-nil first value on
--     success, else nil, err, code, transient (whether another try could
--     succeed: a definite failure ends the loop at once).
--   opts.attempts: tries in all (at least 1).
--   opts.delay(n): seconds to sleep after failed try n.
--   opts.on_retry(n, err, delay): called before that sleep (to log it).
function M.run(opts, attempt)
  local attempts = math.max(1, opts.attempts or 1)
  local err, code
  for n = 1, attempts do
    local r = table.pack(attempt(n))
    if r[1] ~= nil then
      return table.unpack(r, 1, r.n)
    end
    err, code = r[2], r[3]
    if not r[4] or n == attempts then
      break
    end
    local delay = opts.delay(n)
    if opts.on_retry then
      opts.on_retry(n, err, delay)
    end
    sched.sleep(delay)
  end
  return nil, err, code
end

return M
