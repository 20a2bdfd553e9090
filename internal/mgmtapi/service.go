package mgmtapi

import (
	"context"

	"github.com/transferd/transferd/internal/control"
	"github.com/transferd/transferd/internal/policy"
	"github.com/transferd/transferd/internal/transfer"
)

// Service is the control plane the API dispatches to, one small interface per resource.
// *control.Service implements it; its errors carry transfer error kinds, which become AWS error
// types.
type Service interface {
	Servers
	ServerStates
	Users
	UserKeys
	HostKeys
	SecurityPolicies
	Tagging
	IdentityProviders
	Workflows
}

// Workflows creates, reads and removes managed workflows.
type Workflows interface {
	CreateWorkflow(ctx context.Context, w transfer.Workflow) (string, error)
	DescribeWorkflow(ctx context.Context, workflowID string) (*control.WorkflowDescription, error)
	ListWorkflows(ctx context.Context, page control.Page) ([]control.WorkflowSummary, string, error)
	DeleteWorkflow(ctx context.Context, workflowID string) error
	ListExecutions(ctx context.Context, workflowID string, page control.Page) ([]transfer.Execution, string, error)
	DescribeExecution(ctx context.Context, workflowID, executionID string) (*control.ExecutionDescription, error)
	SendWorkflowStepState(ctx context.Context, workflowID, executionID, token, status string) error
}

// Servers creates, reads, changes and removes servers.
type Servers interface {
	CreateServer(ctx context.Context, in control.CreateServerInput) (string, error)
	DescribeServer(ctx context.Context, serverID string) (*control.ServerDescription, error)
	UpdateServer(ctx context.Context, serverID string, in control.UpdateServerInput) error
	DeleteServer(ctx context.Context, serverID string) error
	ListServers(ctx context.Context, page control.Page) ([]control.ServerSummary, string, error)
}

// ServerStates starts and stops servers.
type ServerStates interface {
	StartServer(ctx context.Context, serverID string) error
	StopServer(ctx context.Context, serverID string) error
}

// Users creates, reads, changes and removes a server's users.
type Users interface {
	CreateUser(ctx context.Context, u transfer.User) error
	DescribeUser(ctx context.Context, serverID, userName string) (*control.UserDescription, error)
	UpdateUser(ctx context.Context, serverID, userName string, in control.UpdateUserInput) error
	DeleteUser(ctx context.Context, serverID, userName string) error
	ListUsers(ctx context.Context, serverID string, page control.Page) ([]control.UserSummary, string, error)
}

// UserKeys adds and removes users' SSH public keys.
type UserKeys interface {
	ImportSSHPublicKey(ctx context.Context, serverID, userName, body string) (string, error)
	DeleteSSHPublicKey(ctx context.Context, serverID, userName, keyID string) error
}

// HostKeys manages servers' host keys.
type HostKeys interface {
	ImportHostKey(ctx context.Context, serverID, body, description string, tags []transfer.Tag) (string, error)
	DescribeHostKey(ctx context.Context, serverID, hostKeyID string) (*control.HostKeyDescription, error)
	UpdateHostKey(ctx context.Context, serverID, hostKeyID, description string) error
	DeleteHostKey(ctx context.Context, serverID, hostKeyID string) error
	ListHostKeys(ctx context.Context, serverID string, page control.Page) ([]control.HostKeyDescription, string, error)
}

// SecurityPolicies reads the catalog of security policies.
type SecurityPolicies interface {
	ListSecurityPolicies(ctx context.Context, page control.Page) ([]string, string, error)
	DescribeSecurityPolicy(ctx context.Context, name string) (*policy.Policy, error)
}

// Tagging reads and changes the tags of servers, users and host keys, by ARN.
type Tagging interface {
	TagResource(ctx context.Context, arn string, tags []transfer.Tag) error
	UntagResource(ctx context.Context, arn string, keys []string) error
	ListTagsForResource(ctx context.Context, arn string, page control.Page) ([]transfer.Tag, string, error)
}

// IdentityProviders tests servers' custom identity providers.
type IdentityProviders interface {
	TestIdentityProvider(ctx context.Context, in control.TestIdentityProviderInput) (*control.IdentityTestResult, error)
}

// The control plane is what the API runs on.
var _ Service = (*control.Service)(nil)
