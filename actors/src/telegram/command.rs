//! Parsing `/command@botname args` and the commands the bot knows.

use strum::{EnumIter, EnumString, IntoEnumIterator, IntoStaticStr};

/// Every command the bot answers, with its `setMyCommands` description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumString, IntoStaticStr, EnumIter)]
#[strum(serialize_all = "lowercase")]
pub enum ChatCommand {
    Help,
    Start,
    Status,
    Deploy,
    Stop,
    Pause,
    Resume,
    Balance,
    Pnl,
    Report,
    Spent,
    Sync,
    Uncategorized,
    Jobs,
    Health,
    Ask,
    Link,
    Notify,
}

impl ChatCommand {
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Usage and description, as `/help` and `setMyCommands` show them.
    pub fn describe(self) -> (&'static str, &'static str) {
        match self {
            Self::Help => ("", "what I can do"),
            Self::Start => ("", "start here: how to link your account"),
            Self::Status => ("", "strategies: state, since when, PnL"),
            Self::Deploy => ("NAME", "deploy a strategy"),
            Self::Stop => ("NAME|all", "stop a strategy (or all)"),
            Self::Pause => ("NAME", "pause a strategy"),
            Self::Resume => ("NAME", "resume a paused strategy"),
            Self::Balance => ("[venue]", "venue balances"),
            Self::Pnl => ("[day|week|month]", "profit and loss"),
            Self::Report => ("[YYYY-MM]", "spending by category"),
            Self::Spent => ("[category] [period]", "what you spent"),
            Self::Sync => ("[account]", "sync bank accounts now"),
            Self::Uncategorized => ("", "transactions waiting for a category"),
            Self::Jobs => ("", "recent and failed jobs"),
            Self::Health => ("", "service health"),
            Self::Ask => (
                "QUESTION",
                "ask about your money (or just write the question)",
            ),
            Self::Link => ("CODE", "link your Telegram account"),
            Self::Notify => ("[kind on|silent|off]", "notification preferences"),
        }
    }

    /// The commands registered with `setMyCommands` (`/start` is implicit in Telegram).
    pub fn registered() -> impl Iterator<Item = Self> {
        Self::iter().filter(|c| *c != Self::Start)
    }
}

/// A command as typed: its name (lowercased, bot mention removed) and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub name: String,
    pub command: Option<ChatCommand>,
    pub args: Vec<String>,
}

impl Invocation {
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(String::as_str)
    }
}

/// Plain text to the bot (not a command) is a question: `/ask` with the whole text.
/// `None` for commands (also other bots' `/cmd@other`) and empty text.
pub fn plain_question(text: &str) -> Option<Invocation> {
    let text = text.trim();
    if text.is_empty() || text.starts_with('/') {
        return None;
    }
    Some(Invocation {
        name: ChatCommand::Ask.as_str().to_owned(),
        command: Some(ChatCommand::Ask),
        args: text.split_whitespace().map(str::to_owned).collect(),
    })
}

/// Parses a message text as a command. `None` when it is not one (plain text), or when it is
/// addressed to another bot (`/status@other_bot` in a group).
pub fn parse(text: &str, bot_username: Option<&str>) -> Option<Invocation> {
    let text = text.trim();
    let rest = text.strip_prefix('/')?;
    let mut words = rest.split_whitespace();
    let head = words.next()?;
    let (name, mention) = match head.split_once('@') {
        Some((n, m)) => (n, Some(m)),
        None => (head, None),
    };
    if let (Some(m), Some(me)) = (mention, bot_username)
        && !m.eq_ignore_ascii_case(me)
    {
        return None;
    }
    if name.is_empty() || name.len() > 32 {
        return None;
    }
    let name = name.to_ascii_lowercase();
    Some(Invocation {
        command: name.parse().ok(),
        name,
        args: words.map(str::to_owned).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_mention_and_args() {
        let i = parse("/Stop@My_Bot  btc-grid  now", Some("my_bot")).expect("command");
        assert_eq!(i.command, Some(ChatCommand::Stop));
        assert_eq!(i.args, vec!["btc-grid", "now"]);
    }

    #[test]
    fn commands_for_other_bots_and_plain_text_are_not_ours() {
        assert_eq!(parse("/status@other_bot", Some("my_bot")), None);
        assert_eq!(parse("hello", Some("my_bot")), None);
        assert_eq!(parse("/", None), None);
    }

    #[test]
    fn plain_text_is_a_question_and_commands_are_not() {
        let i = plain_question("  how much on food\nin October? ").expect("question");
        assert_eq!(i.command, Some(ChatCommand::Ask));
        assert_eq!(i.args.join(" "), "how much on food in October?");
        assert_eq!(plain_question("/status"), None);
        assert_eq!(plain_question("/status@other_bot"), None);
        assert_eq!(plain_question("   "), None);
        let asked = parse("/ask what did I spend?", None).expect("command");
        assert_eq!(asked.command, Some(ChatCommand::Ask));
    }

    #[test]
    fn unknown_commands_parse_without_a_command() {
        let i = parse("/frobnicate x", None).expect("parsed");
        assert_eq!(i.command, None);
        assert_eq!(i.name, "frobnicate");
    }

    #[test]
    fn registered_commands_follow_the_bot_api_rules() {
        for c in ChatCommand::registered() {
            let name = c.as_str();
            assert!((1..=32).contains(&name.len()));
            assert!(
                name.chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
            );
            assert!((1..=256).contains(&c.describe().1.len()));
        }
    }
}
