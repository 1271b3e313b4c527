-- luacheck: the only globals our Lua may use.
std = "lua54"
max_line_length = 120
codes = true
-- Variables whose only job is their <close> metamethod start with "_".
unused_secondaries = false
ignore = { "211/_.*" }
globals = { "SW_HOME" }
files["tests"] = { std = "+busted" }
files["tests/helper.lua"] = { std = "lua54" }
exclude_files = { "tests/queue/node_modules", "tests/*/node_modules" }
-- Policy files run in the loader's sandbox (lua/sw/policy.lua): only these
-- names exist there, and they may define no globals.
files["policies"] = {
  std = "none",
  globals = {},
  read_globals = {
    "pairs", "ipairs", "next", "type", "tostring", "tonumber", "select", "error", "assert", "pcall",
    "rawequal", "rawlen", "string", "table", "math", "utf8", "null",
  },
}
