-- Ad-hoc signing of one-off builds (mozilla-releng/adhoc-signing and adhoc-manifest on GitHub).
-- Release engineering signs one-off artifacts here; both repositories are trusted equally.
-- Values mirror the Python scriptworker's DEFAULT_CONFIG by-cot-product["adhoc"]
-- (tests/unit/policies/products_spec.lua keeps them equal).
return {
  name = "adhoc",
  description = "Ad-hoc signing of one-off builds (mozilla-releng/adhoc-signing and adhoc-manifest on GitHub)",
  -- How decision tasks are rebuilt: "hg" (hg.mozilla.org) or "github".
  cot_product_type = "github",
  -- Env prefix of the repository variables (<P>_HEAD_REPOSITORY, <P>_HEAD_REV, ...).
  source_env_prefix = "ADHOC",
  -- Owner whose GitHub repositories are not pull requests ("" for hg products).
  official_github_repos_owner = "mozilla-releng",
  -- Values of extra.tasks_for a decision, cron or action task may carry.
  valid_tasks_for = { "action", "github-pull-request", "github-push" },
  -- provisionerId/workerType of decision and action tasks.
  valid_decision_worker_pools = {
    "adhoc-1/decision",
    "adhoc-3/decision",
    "adhoc-1/decision-gcp",
    "adhoc-3/decision-gcp",
  },
  -- provisionerId/workerType of docker-image tasks.
  valid_docker_image_worker_pools = {
    "adhoc-1/images",
    "adhoc-3/images",
    "adhoc-1/images-gcp",
    "adhoc-3/images-gcp",
  },
  -- Task types that may run a prebuilt or indexed docker image ("any": all).
  prebuilt_docker_image_task_types = "any",
  -- Trusted repositories: the named group "path" is the repository path.
  trusted_vcs_rules = {
    {
      netlocs = { "github.com" },
      path_regexes = {
        [[^(?P<path>/mozilla-releng/(?:adhoc-signing|adhoc-manifest))(/|.git|$)]],
      },
      schemes = { "https", "ssh" },
    },
  },
  -- Restricted scope -> the tree level (cot_restricted_trees) allowed to use it.
  cot_restricted_scopes = {
    ["project:adhoc:signing:cert:release-signing"] = "adhoc-signing-repos",
  },
  -- Tree level -> repository paths.
  cot_restricted_trees = {
    ["adhoc-signing-repos"] = { "/mozilla-releng/adhoc-signing", "/mozilla-releng/adhoc-manifest" },
  },
}
