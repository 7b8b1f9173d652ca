//! Hostile or careless input (issue 10, item 13): every case is a diagnostic
//! pointing into the plan and exit 1, never a panic, a hang, a silently
//! capped number or a misread unit.

use crate::diagnostics::{assert_never_says, assert_points_at, assert_says, invalid};
use crate::test::Test;

/// A plan with one local host, followed by `rest`.
fn local(rest: &str) -> String {
    format!("[hosts.local]\nlocal = true\n\n{rest}")
}

#[test]
fn variables_that_double_each_other_are_refused_quickly() {
    // 40 levels of doubling would be a terabyte if expanded.
    let mut vars = String::from("[vars]\nv0 = \"xxxxxxxxxxxxxxxx\"\n");
    for i in 1..40 {
        vars.push_str(&format!(
            "v{i} = \"{{{{ var.v{} }}}}{{{{ var.v{} }}}}\"\n",
            i - 1,
            i - 1
        ));
    }
    let plan = format!(
        "{vars}\n{}",
        local("[artefacts.a]\npath = \"/tmp/{{ var.v39 }}\"\ncommand = \"true\"\n")
    );
    let err = invalid(&plan);
    assert_says(&err, "expands this value beyond 65536 bytes");
    assert_says(
        &err,
        "a value may expand to 64 KiB and a whole plan to 16 MiB",
    );
    // The first variable past the limit is the one shown.
    assert_says(&err, "`{{ var.v12 }}` expands this value beyond");
}

#[test]
fn many_large_variables_are_refused_by_the_plan_budget() {
    // Each value stays under 64 KiB; together they would be gigabytes.
    let mut vars = String::from("[vars]\nbig = \"");
    vars.push_str(&"x".repeat(60 * 1024));
    vars.push_str("\"\n");
    for i in 0..2000 {
        vars.push_str(&format!("c{i} = \"{{{{ var.big }}}}\"\n"));
    }
    let err = invalid(&format!(
        "{vars}\n{}",
        local("[artefacts.a]\npath = \"/tmp/a\"\ncommand = \"true\"\n")
    ));
    assert_says(&err, "the plan's templates expand beyond 16 MiB in all");
    assert_says(&err, "the limit is reached here");
    // Once, not for every variable past the budget.
    assert_says(&err, "the plan is invalid\n");
}

#[test]
fn variables_nested_too_deep_are_refused() {
    let mut vars = String::from("[vars]\nv0 = \"x\"\n");
    for i in 1..=17 {
        vars.push_str(&format!("v{i} = \"{{{{ var.v{} }}}}\"\n", i - 1));
    }
    let err = invalid(&format!(
        "{vars}\n{}",
        local("[artefacts.a]\npath = \"/tmp/{{ var.v17 }}\"\ncommand = \"true\"\n")
    ));
    assert_says(&err, "variable `v17` nests variables 17 deep (at most 16)");
    assert_never_says(&err, "variable `v16` nests");
}

#[test]
fn validate_dev_zero_fails_at_once() {
    let run = Test::new().args(&["validate", "/dev/zero"]).status(1);
    assert_never_says(&run.stderr, "panicked");
    assert_says(&run.stderr, "`/dev/zero` is not a regular file");
}

#[test]
fn validate_a_directory_fails() {
    let run = Test::new().args(&["validate", "."]).status(1);
    assert_says(&run.stderr, "`.` is not a regular file");
}

#[test]
fn validate_a_fifo_fails_without_blocking() {
    let t = Test::new();
    let fifo = t.path().join("plan.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let run = t.args(&["validate", "plan.toml"]).status(1);
    assert_says(&run.stderr, "`plan.toml` is not a regular file");
}

#[test]
fn a_plan_file_over_one_mebibyte_is_refused() {
    let mut plan = local("[artefacts.a]\npath = \"/tmp/a\"\ncommand = \"true\"\n");
    plan.push_str(&format!("# {}\n", "x".repeat(1024 * 1024)));
    let run = Test::new()
        .plan(&plan)
        .args(&["validate", "plan.toml"])
        .status(1);
    let err = crate::diagnostics::unwrapped(&run.stderr);
    assert_says(&err, "larger than the 1048576 bytes (1 MiB) a plan may be");
}

#[test]
fn a_plan_that_is_not_utf8_is_refused() {
    let t = Test::new();
    std::fs::write(
        t.path().join("plan.toml"),
        b"[hosts.local]\nlocal = true\n# \xff\n",
    )
    .unwrap();
    let run = t.args(&["validate", "plan.toml"]).status(1);
    assert_says(&run.stderr, "`plan.toml` is not UTF-8 text");
}

#[test]
fn empty_image_is_refused() {
    let err = invalid(&local(
        "[containers.rehearsal]\nimage = \"\"\nlifecycle = \"persistent\"\n",
    ));
    assert_says(&err, "`` is not an image reference");
}

#[test]
fn an_image_that_reads_as_an_option_is_refused() {
    let err = invalid(&local(
        "[containers.rehearsal]\nimage = \"--privileged\"\nlifecycle = \"persistent\"\n",
    ));
    assert_says(&err, "`--privileged` is not an image reference");
}

#[test]
fn empty_sql_user_and_database_are_refused() {
    let err = invalid(&local(
        "[checks.c]\ncontainer = \"postgres\"\nsql = \"  \"\nexpect = \"1\"\nuser = \"\"\ndatabase = \"\"\n",
    ));
    assert_says(&err, "the plan is invalid (3 errors)");
    assert_says(&err, "the SQL is empty");
    assert_says(&err, "`user` is empty");
    assert_says(&err, "`database` is empty");
}

#[test]
fn empty_guard_user_is_refused() {
    let err = invalid(
        "[hosts.vps]\nssh = \"vps\"\n[hosts.vps.protected]\ncontainers = [\"postgres\"]\n\
         [guards.g]\nkind = \"schema-unchanged\"\ncontainer = \"postgres\"\nuser = \"\"\n",
    );
    assert_says(&err, "`user` is empty");
}

#[test]
fn empty_command_and_ssh_destination_are_refused() {
    let err = invalid("[hosts.vps]\nssh = \"\"\n");
    assert_says(&err, "host `vps` has no SSH destination");
    assert_says(&err, "an alias or `user@host`, not empty and not an option");
    let err = invalid(&local("[artefacts.a]\npath = \"/tmp/a\"\ncommand = \"\"\n"));
    assert_says(&err, "artefact `a` has an empty command");
}

#[test]
fn empty_resource_name_is_refused() {
    let err = invalid(&local(
        "[artefacts.\"\"]\npath = \"/tmp/a\"\ncommand = \"true\"\n",
    ));
    assert_says(&err, "invalid name ``");
}

#[test]
fn min_size_above_u64_is_refused_not_capped() {
    let err = invalid(&local(
        "[artefacts.a]\npath = \"/tmp/a\"\ncommand = \"true\"\nmin_size = \"20 EiB\"\n",
    ));
    assert_says(&err, "`20 EiB` is not a size");
    assert_points_at(&err, 7, "min_size = \"20 EiB\"", "`20 EiB` is too large");
    assert_says(&err, "sizes must be below 16 EiB");
}

#[test]
fn a_restore_exit_code_that_would_wrap_is_refused() {
    let err = invalid(&local(
        "[artefacts.dump]\npath = \"/tmp/d\"\ncommand = \"true\"\n\
         [containers.t]\nimage = \"postgres:16\"\nlifecycle = \"ephemeral\"\n\
         restore = { artefact = \"dump\", command = \"pg_restore\", ok_exit_codes = [0, 4294967296, -1, 256] }\n",
    ));
    assert_says(&err, "the plan is invalid (3 errors)");
    assert_says(&err, "exit code 4294967296 is out of range");
    assert_says(&err, "exit code -1 is out of range");
    assert_says(&err, "exit code 256 is out of range");
    assert_says(&err, "exit codes are 0 to 255");
}

#[test]
fn docker_invalid_names_are_refused_at_validate() {
    let err = invalid(&local(
        "[containers.db]\nname = \"my db\"\nimage = \"postgres:16\"\nlifecycle = \"persistent\"\n\
         network = \"-net\"\nvolume = \"vol/../x\"\n\
         [containers._hidden]\nimage = \"postgres:16\"\nlifecycle = \"persistent\"\n\
         [artefacts.a]\npath = \"/tmp/a\"\ncommand = \"true\"\ncontainer = \"--privileged\"\n",
    ));
    assert_says(&err, "`my db` is not a valid Docker container name");
    assert_says(&err, "`-net` is not a valid Docker network");
    assert_says(&err, "`vol/../x` is not a valid Docker volume");
    assert_says(&err, "`_hidden` is not a valid Docker container name");
    assert_says(&err, "`--privileged` is not a container name or ID");
    assert_points_at(
        &err,
        5,
        "name = \"my db\"",
        "this contains ` `: Docker allows letters, digits, `_`, `.` and `-`",
    );
}

#[test]
fn docker_invalid_protected_names_are_refused() {
    let err = invalid(
        "[hosts.vps]\nssh = \"vps\"\n[hosts.vps.protected]\ncontainers = [\"post gres\"]\nvolumes = [\"\"]\n",
    );
    assert_says(&err, "`post gres` is not a valid Docker container");
    assert_says(&err, "`` is not a valid Docker volume");
}

#[test]
fn sixty_capital_m_is_refused_as_ambiguous() {
    let err = invalid(&local(
        "[artefacts.a]\npath = \"/tmp/a\"\ncommand = \"true\"\nmax_age = \"60M\"\n",
    ));
    assert_says(&err, "`60M` is not a duration");
    assert_points_at(
        &err,
        7,
        "max_age = \"60M\"",
        "`60M` is ambiguous: minutes or months?",
    );
    assert_says(&err, r#"for minutes write "60m" or "60min""#);
}

#[test]
fn misreadable_durations_are_refused_with_a_hint() {
    for (value, label, hint) in [
        (
            "6 months",
            "months and years have no fixed length",
            "\"180d\"",
        ),
        ("1y", "months and years have no fixed length", "\"52w\""),
        ("2H", "unit `H` is not lowercase", "\"2h\""),
        ("60", "`60` has no unit", "\"60s\", \"60m\""),
        ("1.5h", "has a fraction", "\"90m\""),
        ("99999d", "duration too long", "3650 days"),
    ] {
        let err = invalid(&local(&format!(
            "[artefacts.a]\npath = \"/tmp/a\"\ncommand = \"true\"\nmax_age = \"{value}\"\n"
        )));
        assert_says(&err, &format!("`{value}` is not a duration"));
        assert_says(&err, label);
        assert_says(&err, hint);
    }
}

#[test]
fn the_accepted_durations_validate() {
    Test::new()
        .plan(&local(
            "[artefacts.a]\npath = \"/tmp/a\"\ncommand = \"true\"\nmax_age = \"1h 30min\"\n\
             [artefacts.b]\npath = \"/tmp/b\"\ncommand = \"true\"\nmax_age = \"60m\"\n\
             [artefacts.c]\npath = \"/tmp/c\"\ncommand = \"true\"\nmax_age = \"7d\"\n",
        ))
        .args(&["validate", "plan.toml"])
        .status(0);
}

#[test]
fn lock_wait_uses_the_same_duration_grammar() {
    let run = Test::new()
        .plan(&local(
            "[artefacts.a]\npath = \"/tmp/a\"\ncommand = \"true\"\n",
        ))
        .args(&["apply", "plan.toml", "--yes", "--lock-wait", "10M"])
        .status(1);
    assert_says(&run.stderr, "`10M` is ambiguous");
}

#[test]
fn a_template_error_in_a_string_with_escapes_points_at_the_whole_value() {
    // `\t` is two bytes in the file and one in the value: offsets inside
    // the value would point one byte off, into the middle of `é`.
    let err = invalid(&local(
        "[artefacts.a]\npath = \"/\\t\u{e9}{{ bogus }}\"\ncommand = \"true\"\n",
    ));
    assert_says(&err, "unknown template `bogus`");
    assert_says(&err, "[plan.toml:5:8]");
}

#[test]
fn thousands_of_errors_show_the_first_fifty_and_a_count() {
    // One broken reference repeated: every diagnostic repeats the 50 KB line.
    let plan = format!("[vars]\na = \"{}\"\n", "{{ var.a }}".repeat(5000));
    let run = Test::new()
        .plan(&plan)
        .args(&["validate", "plan.toml"])
        .status(1);
    assert_says(&run.stderr, "the plan is invalid (5000 errors)");
    assert_says(&run.stderr, "and 4950 more not shown");
    assert_eq!(run.stderr.matches("× unknown variable `a`").count(), 50);
}

#[test]
fn sub_second_ssh_timeouts_are_refused_not_truncated_to_zero() {
    let err =
        invalid("[hosts.vps]\nssh = \"vps\"\nconnect_timeout = \"500ms\"\nkeepalive = \"0s\"\n");
    assert_says(&err, "`500ms` is not a whole number of seconds");
    assert_says(&err, "`0s` is not a whole number of seconds");
    assert_says(&err, "SSH counts whole seconds, at least 1");
}

#[test]
fn empty_host_and_environment_names_are_refused() {
    let err = invalid(
        "[hosts.\"\"]\nlocal = true\n[hosts.h]\nlocal = true\n\
         [containers.rehearsal]\nhost = \"h\"\nimage = \"postgres:16\"\nlifecycle = \"persistent\"\n\
         env = { \"A=B\" = \"x\" }\nsecrets = { \"\" = { env = \"X\" } }\n",
    );
    assert_says(&err, "empty host name");
    assert_says(&err, "`A=B` is not an environment variable name");
    assert_says(&err, "`` is not an environment variable name");
}
