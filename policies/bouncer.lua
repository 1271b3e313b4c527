-- Instance policy for bouncerscript workers: update Bouncer's download locations.
-- Select it with `scriptworker --policy policies/bouncer.lua CONFIG`: the root of
-- every chain this worker verifies is named "bouncer" and checked as a bouncer task.
--
-- The product comes from the config's cot_product. To pin one for every
-- worker that uses this file, add for example
--   cot_product = "firefox",
-- (a name from policies/products/); it then wins over the config.
return {
  name = "bouncer",
  description = "bouncerscript workers: update Bouncer's download locations",
  cot_job_type = "bouncer",
}
