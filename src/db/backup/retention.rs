//! Which backups to keep: the newest of each of the last `keep_daily` days that have one,
//! plus the newest of each of the last `keep_weekly` ISO weeks (like restic's
//! `--keep-daily`/`--keep-weekly`). Pure: the caller lists and deletes.

use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use std::collections::HashSet;

/// The stems to delete among `backups` (stem, time); any order in, newest-first decisions.
pub fn to_delete(
    backups: &[(String, DateTime<Utc>)],
    keep_daily: u32,
    keep_weekly: u32,
) -> Vec<String> {
    let mut sorted: Vec<&(String, DateTime<Utc>)> = backups.iter().collect();
    // Newest first; ties broken by name so `-2` (taken later in the same second) wins.
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
    let mut days: HashSet<NaiveDate> = HashSet::new();
    let mut weeks: HashSet<(i32, u32)> = HashSet::new();
    let mut delete = Vec::new();
    for (stem, at) in sorted {
        let mut keep = false;
        let day = at.date_naive();
        if !days.contains(&day) && days.len() < keep_daily as usize {
            days.insert(day);
            keep = true;
        }
        let week = (at.iso_week().year(), at.iso_week().week());
        if !weeks.contains(&week) && weeks.len() < keep_weekly as usize {
            weeks.insert(week);
            keep = true;
        }
        if !keep {
            delete.push(stem.clone());
        }
    }
    delete
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        // November 2026: the 2nd is a Monday.
        Utc.with_ymd_and_hms(2026, 11, day, hour, 30, 0)
            .single()
            .expect("time")
    }

    fn named(times: &[DateTime<Utc>]) -> Vec<(String, DateTime<Utc>)> {
        times
            .iter()
            .map(|t| (t.format("%d-%H").to_string(), *t))
            .collect()
    }

    #[test]
    fn keeps_the_newest_per_day_for_n_days() {
        let b = named(&[at(1, 3), at(2, 3), at(3, 3), at(3, 15), at(4, 3)]);
        let mut gone = to_delete(&b, 2, 0);
        gone.sort();
        // Kept: the 4th and the later one of the 3rd.
        assert_eq!(gone, vec!["01-03", "02-03", "03-03"]);
    }

    #[test]
    fn weekly_keeps_the_newest_of_older_weeks_too() {
        // A daily backup for 30 days, 7 daily + 4 weekly.
        let b = named(&(1..=30).map(|d| at(d, 3)).collect::<Vec<_>>());
        let gone = to_delete(&b, 7, 4);
        let kept: Vec<&str> = b
            .iter()
            .map(|(s, _)| s.as_str())
            .filter(|s| !gone.iter().any(|g| g == s))
            .collect();
        // Days 24-30 (7 daily); weeks: 23-29 (Mon-Sun) is covered by the 29th; the 30th's week
        // by the 30th; earlier weeks by their Sundays, the 22nd and the 15th.
        assert_eq!(
            kept,
            vec![
                "15-03", "22-03", "24-03", "25-03", "26-03", "27-03", "28-03", "29-03", "30-03"
            ]
        );
    }

    #[test]
    fn gaps_do_not_eat_the_quota_and_one_backup_is_always_kept() {
        let b = named(&[at(1, 3), at(20, 3)]);
        assert!(
            to_delete(&b, 7, 0).is_empty(),
            "days with no backup do not count"
        );
        assert_eq!(to_delete(&b, 1, 0), vec!["01-03"]);
        assert!(to_delete(&[], 1, 1).is_empty());
    }

    #[test]
    fn same_second_duplicates_keep_the_later_name() {
        let t = at(5, 3);
        let b = vec![("a".to_owned(), t), ("a-2".to_owned(), t)];
        assert_eq!(to_delete(&b, 1, 0), vec!["a"]);
    }
}
