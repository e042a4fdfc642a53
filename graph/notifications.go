package graph

import (
	"github.com/twofoldauth/twofold/graph/model"
	"github.com/twofoldauth/twofold/mfa"
)

// settingPayload wraps a notification setting for the mutations.
func settingPayload(st *mfa.NotificationSetting, err error) (*model.NotificationSettingPayload, error) {
	if err != nil {
		return nil, err
	}
	return &model.NotificationSettingPayload{Setting: st}, nil
}
