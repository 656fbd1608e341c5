package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/natsraft/natsraft/natstransport"
	"github.com/natsraft/natsraft/server"
)

// authFile is the embedded nats-server's authorization, read from
// --nats-auth-file:
//
//	{"users": [
//	  {"user": "n1", "password": "...", "role": "node", "id": "n1"},
//	  {"user": "app", "password": "...", "role": "client"}
//	]}
//
// A node user may use its cluster's Raft subjects (receiving only its own
// lanes) and serve the API; a client user may only call the API.
type authFile struct {
	Users []authUser `json:"users"`
}

type authUser struct {
	User     string `json:"user"`
	Password string `json:"password"`
	Nkey     string `json:"nkey"`
	Role     string `json:"role"` // node or client
	ID       string `json:"id"`   // the member name, for role node
}

// loadAuthFile turns the file into embedded-server users for cluster.
func loadAuthFile(path, cluster string) ([]natstransport.User, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f authFile
	dec := json.NewDecoder(bytesReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	users := make([]natstransport.User, 0, len(f.Users))
	for i, u := range f.Users {
		user := natstransport.User{Name: u.User, Password: u.Password, Nkey: u.Nkey}
		switch u.Role {
		case "node":
			if u.ID == "" {
				return nil, fmt.Errorf("%s: user %d (%s): role node needs the member name in \"id\"", path, i, u.User)
			}
			user.Publish = append([]string{natstransport.PublishPermission(cluster)}, apiPublish(cluster)...)
			user.Subscribe = append([]string{natstransport.SubscribePermission(cluster, server.NodeID(u.ID))}, apiSubscribe(cluster)...)
		case "client":
			user.Publish = apiPublish(cluster)
			user.Subscribe = []string{"_INBOX.>"}
		default:
			return nil, fmt.Errorf("%s: user %d (%s): role must be node or client, not %q", path, i, u.User, u.Role)
		}
		users = append(users, user)
	}
	return users, nil
}

// apiPublish is what calling the API needs: its request subjects, service
// discovery, and replies to inboxes.
func apiPublish(cluster string) []string {
	return []string{"natsraft." + cluster + ".api.>", "$SRV.>", "_INBOX.>"}
}

// apiSubscribe is what serving the API needs.
func apiSubscribe(cluster string) []string {
	return []string{"natsraft." + cluster + ".api.>", "$SRV.>", "_INBOX.>"}
}
