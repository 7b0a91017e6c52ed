//! Where Persite keeps its files, by the XDG Base Directory rules: `persite/` under
//! `$XDG_CONFIG_HOME` (else `$HOME/.config`) for settings and under `$XDG_DATA_HOME` (else
//! `$HOME/.local/share`) for data. A relative `$XDG_*` value is invalid (XDG spec) and ignored;
//! `None` when there is no absolute base at all.

use std::path::{Path, PathBuf};

/// An XDG base directory kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// `$XDG_CONFIG_HOME`, else `$HOME/.config`.
    Config,
    /// `$XDG_DATA_HOME`, else `$HOME/.local/share`.
    Data,
}

impl Base {
    fn variable(self) -> &'static str {
        match self {
            Base::Config => "XDG_CONFIG_HOME",
            Base::Data => "XDG_DATA_HOME",
        }
    }

    fn under_home(self) -> &'static Path {
        match self {
            Base::Config => Path::new(".config"),
            Base::Data => Path::new(".local/share"),
        }
    }
}

/// `persite/` under the `base` directory of this process's environment.
pub fn persite_dir(base: Base) -> Option<PathBuf> {
    persite_dir_from(
        base,
        std::env::var_os(base.variable()).map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

/// The pure rule behind [`persite_dir`], given `$XDG_*` and `$HOME`.
pub fn persite_dir_from(
    base: Base,
    xdg: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Option<PathBuf> {
    let root = match (xdg, home) {
        (Some(x), _) if x.is_absolute() => x,
        (_, Some(h)) if h.is_absolute() => h.join(base.under_home()),
        _ => return None,
    };
    Some(root.join("persite"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdg_first_then_home_and_relative_values_are_ignored() {
        let home = Some(PathBuf::from("/home/u"));
        assert_eq!(
            persite_dir_from(Base::Config, Some("/x".into()), home.clone()),
            Some("/x/persite".into())
        );
        assert_eq!(
            persite_dir_from(Base::Config, Some("rel".into()), home.clone()),
            Some("/home/u/.config/persite".into())
        );
        assert_eq!(
            persite_dir_from(Base::Data, None, home),
            Some("/home/u/.local/share/persite".into())
        );
        assert_eq!(persite_dir_from(Base::Data, None, Some("rel".into())), None);
        assert_eq!(persite_dir_from(Base::Config, None, None), None);
    }
}
