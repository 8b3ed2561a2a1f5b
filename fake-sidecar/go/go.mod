module github.com/tidb-model-kit/sidecarclient

go 1.19
