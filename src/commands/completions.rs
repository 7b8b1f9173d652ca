//! `cutter completions`: shell completion scripts. For bash they also
//! complete resource names after `--target`, `--replace` and `destroy`, read
//! from the plan on the command line by `cutter names PLAN` (no host
//! contacted).

use clap::CommandFactory;
use miette::Result;

use super::stdout;
use crate::cli::Cli;
use crate::exit_status::ExitStatus;

pub(crate) fn exec(shell: clap_complete::Shell) -> Result<ExitStatus> {
    // Generated into memory: clap_complete panics when its writer fails.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "cutter", &mut script);
    let mut text = String::from_utf8_lossy(&script).into_owned();
    if let clap_complete::Shell::Bash = shell {
        text.push_str(BASH_NAMES);
    }
    stdout(&text)?;
    Ok(ExitStatus::Success)
}

/// Wraps clap's bash completion: after `--target`, `--replace` or `destroy
/// PLAN`, offer the plan's resource names.
const BASH_NAMES: &str = r#"
_cutter_resource_names() {
    local w plan
    for w in "${COMP_WORDS[@]}"; do
        case $w in *.toml) plan=$w ;; esac
    done
    [ -n "$plan" ] && cutter names "$plan" 2>/dev/null
}
_cutter_with_names() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    case $prev in
        --target|--replace|--acknowledge)
            COMPREPLY=($(compgen -W "$(_cutter_resource_names)" -- "$cur"))
            return 0 ;;
    esac
    if [ "${COMP_WORDS[1]}" = destroy ] && [ "$COMP_CWORD" -eq 3 ]; then
        COMPREPLY=($(compgen -W "$(_cutter_resource_names)" -- "$cur"))
        return 0
    fi
    _cutter "$@"
}
complete -F _cutter_with_names -o nosort -o bashdefault -o default cutter
"#;

/// `cutter names PLAN`: the plan's resource names, one a line, for
/// completion. Read from the TOML as written (no templates, no environment
/// needed); nothing, and exit 0, when it does not parse.
pub(crate) fn names(plan: &std::path::Path) -> Result<ExitStatus> {
    let raw = std::fs::metadata(plan)
        .ok()
        .filter(|m| m.is_file() && m.len() <= 1024 * 1024)
        .and_then(|_| std::fs::read_to_string(plan).ok())
        .and_then(|text| toml::from_str::<crate::plan::schema::RawPlan>(&text).ok());
    let Some(raw) = raw else {
        return Ok(ExitStatus::Success);
    };
    let mut out = String::new();
    for name in raw
        .artefacts
        .keys()
        .chain(raw.containers.keys())
        .chain(raw.checks.keys())
    {
        out.push_str(name.get_ref());
        out.push('\n');
    }
    stdout(&out)?;
    Ok(ExitStatus::Success)
}
