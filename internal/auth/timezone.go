package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// CheckTimeZone accepts an IANA zone name (Asia/Shanghai, Europe/Berlin),
// or "" for the configured business zone.
func CheckTimeZone(tz string) error {
	if tz == "" {
		return nil
	}
	if len(tz) > 64 || tz == "Local" {
		return &InputError{"timeZone", fmt.Sprintf("%q is not a time zone name (e.g. Asia/Shanghai)", tz)}
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return &InputError{"timeZone", fmt.Sprintf("%q is not a time zone name (e.g. Asia/Shanghai)", tz)}
	}
	return nil
}

// SetTimeZone sets the zone the account called name reads times in.
func (s *Service) SetTimeZone(ctx context.Context, name, tz string) (User, error) {
	return s.setTimeZone(ctx, "name = ?", name, tz)
}

// SetTimeZoneOf sets the zone of the user with id (a person setting their
// own).
func (s *Service) SetTimeZoneOf(ctx context.Context, userID int64, tz string) (User, error) {
	return s.setTimeZone(ctx, "id = ?", userID, tz)
}

func (s *Service) setTimeZone(ctx context.Context, where string, who any, tz string) (User, error) {
	if err := CheckTimeZone(tz); err != nil {
		return User{}, err
	}
	var r userRow
	err := s.db.NewRaw(`UPDATE users SET time_zone = ?, updated_at = ? WHERE `+where+` RETURNING `+userColumns,
		tz, s.o.Now(), who).Scan(ctx, &r)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %v: %w", who, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("set time zone of user %v: %w", who, err)
	}
	return r.user()
}

// TimeZoneOf is the zone of the user with id ("" when they chose none, or
// for no user: an API token).
func (s *Service) TimeZoneOf(ctx context.Context, userID int64) (string, error) {
	if userID == 0 {
		return "", nil
	}
	var tz string
	err := s.db.NewRaw(`SELECT time_zone FROM users WHERE id = ?`, userID).Scan(ctx, &tz)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("time zone of user %d: %w", userID, err)
	}
	return tz, nil
}
