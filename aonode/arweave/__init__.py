"""The Arweave side of the node (node-services.md §11.4, §14.4-14.6).

    gateway   hb_gateway_client: GraphQL reads by ID (with `subindex`), scheduler locations,
              `/raw/<id>` data, GraphQL edges turned into verified messages
    _gql      the GraphQL query texts and the edge -> data item conversion (no I/O)
    upload    hb_client:upload: a committed message posted to the configured bundler
    outbox    the durable outbox that keeps uploads until a bundler accepts them
"""
