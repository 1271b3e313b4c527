-- Loaded by busted before the specs (tests/run passes --helper). Under stock
-- Lua the core comes from build/sw_core.so; inside the scriptworker binary
-- (make sanitize) the modules are already in package.preload.
if not package.preload["sw.json"] then
  require("sw_core")
end
