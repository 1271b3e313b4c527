-- A shipit task holds release secrets, so it may only have run on a
-- scriptworker (VERIFY.md section 5: "must be run from scriptworker").
return {
  name = "shipit",
  description = "Updates the Ship It release workflow (shipitscript)",
  worker_impls = { "scriptworker" },
}
