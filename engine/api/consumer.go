package api

import "time"

// KindConsumer is the kind of the workloads that use volumes.
const KindConsumer = "consumer"

// Consumer states (status.state), as a pod's phases matter to its volume.
const (
	// ConsumerPending: created, its attachment ticket not yet satisfied
	// (the volume is attaching, or attached to another node).
	ConsumerPending = "Pending"
	// ConsumerRunning: the volume is attached to the consumer's node and
	// serves its endpoint.
	ConsumerRunning = "Running"
	// ConsumerTerminating: deletion requested; the consumer goes away when
	// its grace period ends (at once when force-deleted).
	ConsumerTerminating = "Terminating"
)

// DefaultTerminationGracePeriod is a consumer's grace period when its spec
// gives none, Kubernetes' default for pods.
const DefaultTerminationGracePeriod = 30 * time.Second

// Consumer is one instance of a workload that uses a volume on a node: the
// counterpart of a Kubernetes pod that mounts a volume. A consumer holds an
// attachment ticket on its volume (volume.spec.attachmentTickets), and the
// volume stays attached while any ticket holds it. Consumers have
// identities: when the volume asks for a remount (its engine died and came
// back), each consumer of a workload is deleted and replaced by a new one
// on the same node, as Kubernetes replaces a Deployment's pod.
type Consumer struct {
	Name   string         `json:"name"`
	Spec   ConsumerSpec   `json:"spec"`
	Status ConsumerStatus `json:"status"`
}

// ConsumerSpec says which volume the consumer uses, where, and who owns it.
type ConsumerSpec struct {
	Volume string `json:"volume"`
	Node   string `json:"node"`
	// Workload is the owner (a Deployment). A consumer with a workload is
	// replaced on a remount by "<workload>-<generation+1>"; one without is
	// only deleted.
	Workload   string `json:"workload,omitempty"`
	Generation int    `json:"generation,omitempty"`
	// TerminationGracePeriod is how long a graceful deletion waits before
	// the consumer is deleted with grace 0 (DefaultTerminationGracePeriod
	// when zero).
	TerminationGracePeriod Duration `json:"terminationGracePeriod,omitempty"`
}

// ConsumerStatus is what the consumer controller observed and decided.
type ConsumerStatus struct {
	State     string    `json:"state"`
	Endpoint  string    `json:"endpoint,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	StartedAt time.Time `json:"startedAt,omitzero"`
	// DeletionRequestedAt and DeletionDeadline are set by a graceful
	// deletion; at the deadline the consumer is deleted with grace 0.
	DeletionRequestedAt time.Time `json:"deletionRequestedAt,omitzero"`
	DeletionDeadline    time.Time `json:"deletionDeadline,omitzero"`
	// ReplacedBy names the consumer created in its place on a remount.
	ReplacedBy string `json:"replacedBy,omitempty"`
	Message    string `json:"message,omitempty"`
}

// Attachment ticket types.
const (
	// TicketConsumer is held by a consumer.
	TicketConsumer = "consumer"
	// TicketAPI is held by POST /v1/volumes/{name}/attach and given back
	// by detach.
	TicketAPI = "api"
)

// TicketAPIID is the ID of the attach API's ticket.
const TicketAPIID = "api"

// AttachmentTicket is one reason for a volume to be attached to a node.
type AttachmentTicket struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Node     string `json:"node"`
	Consumer string `json:"consumer,omitempty"`
}

// ConsumerTicketID is the ID of the ticket a consumer holds.
func ConsumerTicketID(consumer string) string { return "consumer-" + consumer }

// ConsumerCreateRequest is the body of POST /v1/consumers.
type ConsumerCreateRequest struct {
	Name     string `json:"name"`
	Volume   string `json:"volume"`
	Node     string `json:"node"`
	Workload string `json:"workload,omitempty"`
	// TerminationGracePeriod defaults to DefaultTerminationGracePeriod.
	TerminationGracePeriod Duration `json:"terminationGracePeriod,omitempty" strict:"nonzero"`
}

// Validate checks the request's names and grace period.
func (r ConsumerCreateRequest) Validate() error {
	if err := ValidateName(KindConsumer, r.Name); err != nil {
		return err
	}
	if err := ValidateName(KindVolume, r.Volume); err != nil {
		return err
	}
	if err := ValidateName(KindNode, r.Node); err != nil {
		return err
	}
	if r.Workload != "" {
		if err := ValidateName("workload", r.Workload); err != nil {
			return err
		}
	}
	if r.TerminationGracePeriod < 0 {
		return Invalid("terminationGracePeriod %v is negative", r.TerminationGracePeriod)
	}
	return nil
}

// Grace is the consumer's termination grace period with the default
// applied.
func (c Consumer) Grace() time.Duration {
	if c.Spec.TerminationGracePeriod == 0 {
		return DefaultTerminationGracePeriod
	}
	return time.Duration(c.Spec.TerminationGracePeriod)
}
