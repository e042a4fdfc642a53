package models

import (
	"context"
	"fmt"
	"strings"
)

// Ready checks the database can serve requests now: it answers and, when it
// is a Galera cluster node, the node is ready (wsrep_ready ON) and synced
// with the cluster (wsrep_local_state_comment Synced). A node that is still
// joining or has lost its quorum answers Ping but refuses or lags requests.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.Ping(ctx); err != nil {
		return classify(err)
	}
	if s.Dialect() != "mysql" {
		return nil
	}
	db := s.conn(ctx)
	var name, on string
	if err := db.Raw("SHOW VARIABLES LIKE 'wsrep_on'").Row().Scan(&name, &on); err != nil || !strings.EqualFold(on, "ON") {
		return nil // not a Galera node (or a MySQL without wsrep)
	}
	rows, err := db.Raw("SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state_comment')").Rows()
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	status := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return classify(err)
		}
		status[strings.ToLower(k)] = v
	}
	if err := rows.Err(); err != nil {
		return classify(err)
	}
	if !strings.EqualFold(status["wsrep_ready"], "ON") || status["wsrep_local_state_comment"] != "Synced" {
		return fmt.Errorf("galera node not ready: wsrep_ready=%s, state %s",
			status["wsrep_ready"], status["wsrep_local_state_comment"])
	}
	return nil
}
