//! The desktop's words, in English and Spanish, through Fluent (Project Fluent's
//! `fluent-bundle`): every string the agent reads comes from `i18n/<lang>.ftl` by message id,
//! with its variables, so a translator changes wording, plurals and word order without
//! touching code. The language is the thread's (the window draws on one thread); switching
//! it takes effect on the next frame. API field names and log lines stay English.
//!
//! An audit (for tests) records each message asked for that the language lacks and every
//! string handed out, so a walk through the views can tell a translated string from one left
//! in the code.

use std::cell::RefCell;
use std::collections::BTreeSet;

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, FluentValue};

/// A language the desktop speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Language {
    /// English (the fallback for anything a catalog lacks).
    #[default]
    English,
    /// Spanish.
    Spanish,
}

impl Language {
    /// Every language, in the order Settings offers them.
    pub const ALL: [Self; 2] = [Self::English, Self::Spanish];

    /// Its code in the config (`en`, `es`).
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::English => "en",
            Self::Spanish => "es",
        }
    }

    /// Its own name for itself, as Settings lists it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::English => "English",
            Self::Spanish => "Español",
        }
    }

    /// A language from a code or POSIX locale (`es`, `es-MX`, `es_ES.UTF-8`, `en_GB`); `None`
    /// when it names none the desktop speaks.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let primary = text
            .trim()
            .split(['_', '-', '.', '@'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Self::English),
            "es" => Some(Self::Spanish),
            _ => None,
        }
    }

    /// The language of a POSIX locale environment: the first of `LC_ALL`, `LC_MESSAGES` and
    /// `LANG` that is set (as POSIX reads them), if the desktop speaks it; English otherwise.
    #[must_use]
    pub fn from_locale(
        lc_all: Option<&str>,
        lc_messages: Option<&str>,
        lang: Option<&str>,
    ) -> Self {
        [lc_all, lc_messages, lang]
            .into_iter()
            .flatten()
            .find(|v| !v.trim().is_empty())
            .and_then(Self::parse)
            .unwrap_or_default()
    }

    fn source(self) -> &'static str {
        match self {
            Self::English => include_str!("../i18n/en.ftl"),
            Self::Spanish => include_str!("../i18n/es.ftl"),
        }
    }

    fn tag(self) -> unic_langid::LanguageIdentifier {
        match self {
            Self::English => unic_langid::langid!("en"),
            Self::Spanish => unic_langid::langid!("es"),
        }
    }
}

/// A value for a message's variable.
#[derive(Debug, Clone)]
pub enum Arg {
    /// Text, used as it is.
    Text(String),
    /// A number (plural forms are chosen by it).
    Number(i64),
}

impl From<&str> for Arg {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for Arg {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<&String> for Arg {
    fn from(text: &String) -> Self {
        Self::Text(text.clone())
    }
}

macro_rules! number_arg {
    ($($t:ty),*) => {$(
        impl From<$t> for Arg {
            fn from(n: $t) -> Self {
                Self::Number(i64::from(n))
            }
        }
    )*};
}
number_arg!(i64, i32, i16, u32, u16, u8);

impl From<usize> for Arg {
    fn from(n: usize) -> Self {
        Self::Number(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<u64> for Arg {
    fn from(n: u64) -> Self {
        Self::Number(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// What an audit saw (see [`audit`]).
#[derive(Debug, Default, Clone)]
pub struct Audit {
    /// Message ids asked for that the language's catalog lacks (English stood in).
    pub missing: BTreeSet<String>,
    /// Every string handed out.
    pub produced: BTreeSet<String>,
}

struct Catalogs {
    language: Language,
    english: FluentBundle<FluentResource>,
    spanish: FluentBundle<FluentResource>,
    audit: Option<Audit>,
}

fn bundle(language: Language) -> FluentBundle<FluentResource> {
    let mut bundle = FluentBundle::new(vec![language.tag()]);
    // No Unicode isolation marks around variables: the strings go to egui and screen
    // readers, not to a bidirectional text renderer.
    bundle.set_use_isolating(false);
    let resource = match FluentResource::try_new(language.source().to_owned()) {
        Ok(resource) => resource,
        // A catalog with a syntax error keeps the messages that read (a test fails on it).
        Err((resource, _)) => resource,
    };
    let _ = bundle.add_resource(resource);
    bundle
}

thread_local! {
    static CATALOGS: RefCell<Catalogs> = RefCell::new(Catalogs {
        language: Language::English,
        english: bundle(Language::English),
        spanish: bundle(Language::Spanish),
        audit: None,
    });
}

/// Sets the language the desktop speaks on this thread.
pub fn set_language(language: Language) {
    CATALOGS.with(|c| c.borrow_mut().language = language);
}

/// The language the desktop speaks on this thread.
#[must_use]
pub fn language() -> Language {
    CATALOGS.with(|c| c.borrow().language)
}

/// Starts recording what is asked for and handed out on this thread (for tests).
pub fn audit() {
    CATALOGS.with(|c| c.borrow_mut().audit = Some(Audit::default()));
}

/// What was recorded since [`audit`] (it goes on recording).
#[must_use]
pub fn audited() -> Audit {
    CATALOGS.with(|c| c.borrow().audit.clone().unwrap_or_default())
}

/// The message `id` in the thread's language, with `args` put in; English when that language
/// lacks it, and the id itself when neither has it.
#[must_use]
pub fn text(id: &str, args: &[(&str, Arg)]) -> String {
    CATALOGS.with(|c| {
        let mut c = c.borrow_mut();
        let catalogs = &mut *c;
        let own = match catalogs.language {
            Language::English => &catalogs.english,
            Language::Spanish => &catalogs.spanish,
        };
        let (chosen, missing) = match own.get_message(id).and_then(|m| m.value()) {
            Some(_) => (own, false),
            None => (&catalogs.english, true),
        };
        let fluent_args = (!args.is_empty()).then(|| {
            let mut fluent = FluentArgs::new();
            for (name, value) in args {
                let value = match value {
                    Arg::Text(text) => FluentValue::from(text.clone()),
                    Arg::Number(n) => FluentValue::from(*n),
                };
                fluent.set(*name, value);
            }
            fluent
        });
        let mut errors = Vec::new();
        let out = match chosen.get_message(id).and_then(|m| m.value()) {
            Some(pattern) => chosen
                .format_pattern(pattern, fluent_args.as_ref(), &mut errors)
                .into_owned(),
            None => id.to_owned(),
        };
        if let Some(audit) = &mut catalogs.audit {
            // A variable the code did not give counts as missing too.
            if missing || !errors.is_empty() {
                audit.missing.insert(id.to_owned());
            }
            audit.produced.insert(out.clone());
        }
        out
    })
}

/// A label from the config that may be one of ours: when it reads exactly as English message
/// `id` does (the built-in dispositions and case fields), the agent's language says it;
/// otherwise the config's own words stand.
#[must_use]
pub fn ours(id: &str, label: &str) -> String {
    let english = CATALOGS.with(|c| {
        let c = c.borrow();
        let message = c.english.get_message(id)?;
        let mut errors = Vec::new();
        Some(
            c.english
                .format_pattern(message.value()?, None, &mut errors)
                .into_owned(),
        )
    });
    if english.as_deref() == Some(label) {
        text(id, &[])
    } else {
        label.to_owned()
    }
}

/// The message ids of a language's catalog, and the variables each one uses (for the test
/// that both catalogs say the same things).
#[must_use]
pub fn catalog(language: Language) -> Vec<(String, BTreeSet<String>)> {
    let resource = match FluentResource::try_new(language.source().to_owned()) {
        Ok(resource) => resource,
        Err((resource, _)) => resource,
    };
    let mut out = Vec::new();
    for entry in resource.entries() {
        if let fluent_syntax::ast::Entry::Message(message) = entry {
            let mut variables = BTreeSet::new();
            if let Some(pattern) = &message.value {
                pattern_variables(pattern, &mut variables);
            }
            out.push((message.id.name.to_owned(), variables));
        }
    }
    out
}

/// Whether a language's catalog reads without a syntax error, and the errors when not.
#[must_use]
pub fn catalog_errors(language: Language) -> Vec<String> {
    match FluentResource::try_new(language.source().to_owned()) {
        Ok(_) => Vec::new(),
        Err((_, errors)) => errors.iter().map(|e| format!("{e:?}")).collect(),
    }
}

fn pattern_variables(pattern: &fluent_syntax::ast::Pattern<&str>, out: &mut BTreeSet<String>) {
    use fluent_syntax::ast::{Expression, InlineExpression, PatternElement};
    fn inline(expression: &InlineExpression<&str>, out: &mut BTreeSet<String>) {
        match expression {
            InlineExpression::VariableReference { id } => {
                out.insert(id.name.to_owned());
            }
            InlineExpression::Placeable { expression } => expr(expression, out),
            InlineExpression::FunctionReference { arguments, .. } => {
                for arg in &arguments.positional {
                    inline(arg, out);
                }
            }
            _ => {}
        }
    }
    fn expr(expression: &Expression<&str>, out: &mut BTreeSet<String>) {
        match expression {
            Expression::Select { selector, variants } => {
                inline(selector, out);
                for variant in variants {
                    pattern_variables(&variant.value, out);
                }
            }
            Expression::Inline(expression) => inline(expression, out),
        }
    }
    for element in &pattern.elements {
        if let PatternElement::Placeable { expression } = element {
            expr(expression, out);
        }
    }
}

/// The message `id` in the desktop's language, optionally with variables:
/// `t!("toast-title", kind = "preview")`.
macro_rules! t {
    ($id:expr) => {
        $crate::i18n::text($id, &[])
    };
    ($id:expr, $($name:ident = $value:expr),+ $(,)?) => {
        $crate::i18n::text($id, &[$((stringify!($name), $crate::i18n::Arg::from($value))),+])
    };
}
pub(crate) use t;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locale_names_its_language() {
        assert_eq!(Language::parse("es_ES.UTF-8"), Some(Language::Spanish));
        assert_eq!(Language::parse("es-MX"), Some(Language::Spanish));
        assert_eq!(Language::parse("en_GB"), Some(Language::English));
        assert_eq!(Language::parse("C.UTF-8"), None);
        assert_eq!(
            Language::from_locale(None, Some("es_AR.UTF-8"), Some("en_US.UTF-8")),
            Language::Spanish
        );
        assert_eq!(
            Language::from_locale(Some(""), None, Some("fr_FR.UTF-8")),
            Language::English
        );
    }
}
