//! A sender's normal volume: the peaks of the last few weeks, one record per day.
//!
//! Each day keeps the highest recipients-in-a-sliding-hour and messages-in-the-short-window the
//! sender reached with mail the breaker let through. The learned baseline is the maximum over
//! the *completed* days in the ring (today is left out, so a flood never teaches itself).
//! A maximum over five weeks, not an average: a newsletter that sends 2,000 mails every Monday
//! and nothing on other days has an hourly average near zero, but a Monday peak of 2,000 that
//! stays in the ring until the next Monday. The price: one large legitimate send (a 300-recipient
//! announcement) raises that sender's limits for as long as it stays in the ring.

use serde::{Deserialize, Serialize};

use super::window::Ring;

const DAY: u64 = 86_400;

/// One day's peaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayPeak {
    /// The sender sent mail that day.
    pub active: bool,
    /// Highest recipients within a sliding hour window.
    pub hour_recipients: u32,
    /// Highest messages within the short window.
    pub short_messages: u32,
}

/// What was learned about a sender's volume.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Learned {
    /// Completed days with mail in the ring.
    pub days: u32,
    /// Highest recipients within an hour on those days.
    pub peak_hour_recipients: u32,
    /// Highest messages within the short window on those days.
    pub peak_short_messages: u32,
}

/// The per-day ring of peaks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    days: Ring<DayPeak>,
    /// Length of the ring in days (excluding today).
    keep_days: u32,
    /// Last time the sender sent anything the baseline learned from.
    pub last_learned: u64,
}

impl Baseline {
    /// An empty baseline keeping `keep_days` completed days.
    pub fn new(keep_days: u32) -> Self {
        Baseline {
            days: Ring::new(DAY, keep_days as usize + 1),
            keep_days,
            last_learned: 0,
        }
    }

    /// Records the window counts reached with a message the breaker let through at `at`.
    pub fn learn(&mut self, at: u64, hour_recipients: u32, short_messages: u32) {
        if let Some(d) = self.days.slot_mut(at) {
            d.active = true;
            d.hour_recipients = d.hour_recipients.max(hour_recipients);
            d.short_messages = d.short_messages.max(short_messages);
        }
        self.last_learned = self.last_learned.max(at);
    }

    /// The learned peaks as of `at` (completed days only), or `None` with fewer than
    /// `min_days` days of mail.
    pub fn learned(&self, at: u64, min_days: u32) -> Option<Learned> {
        let today = at / DAY;
        let mut l = Learned::default();
        // The window ending yesterday: `keep_days` buckets.
        let yesterday = (today * DAY).checked_sub(1)?;
        for d in self.days.window(yesterday, self.keep_days as usize) {
            if d.active {
                l.days += 1;
                l.peak_hour_recipients = l.peak_hour_recipients.max(d.hour_recipients);
                l.peak_short_messages = l.peak_short_messages.max(d.short_messages);
            }
        }
        (l.days >= min_days.max(1)).then_some(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MONDAY: u64 = 1_795_392_000; // a Monday, 00:00 UTC

    #[test]
    fn a_new_sender_has_no_baseline_and_today_never_counts() {
        let mut b = Baseline::new(35);
        assert_eq!(b.learned(MONDAY + 3600, 1), None);
        b.learn(MONDAY + 3600, 2000, 300);
        assert_eq!(
            b.learned(MONDAY + 7200, 1),
            None,
            "today does not teach itself"
        );
        let l = b.learned(MONDAY + DAY + 10, 1).unwrap();
        assert_eq!(
            (l.days, l.peak_hour_recipients, l.peak_short_messages),
            (1, 2000, 300)
        );
    }

    #[test]
    fn a_weekly_peak_is_remembered_for_the_whole_ring() {
        let mut b = Baseline::new(35);
        b.learn(MONDAY + 3600, 2000, 300);
        for day in 1..7 {
            b.learn(MONDAY + day * DAY + 3600, 3, 1);
        }
        let next_monday = MONDAY + 7 * DAY + 3600;
        let l = b.learned(next_monday, 1).unwrap();
        assert_eq!((l.days, l.peak_hour_recipients), (7, 2000));
        // Five weeks later without mail, it is forgotten.
        assert_eq!(b.learned(MONDAY + 42 * DAY, 1), None);
    }

    #[test]
    fn minimum_history() {
        let mut b = Baseline::new(35);
        b.learn(MONDAY, 5, 1);
        b.learn(MONDAY + DAY, 5, 1);
        assert_eq!(b.learned(MONDAY + 2 * DAY, 3), None);
        b.learn(MONDAY + 2 * DAY, 5, 1);
        assert_eq!(b.learned(MONDAY + 3 * DAY, 3).unwrap().days, 3);
    }
}
